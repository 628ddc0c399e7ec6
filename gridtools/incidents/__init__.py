"""Incidents: geocoding events to grids, event types, and the closed-loop case workflow.

Examples
--------
>>> from gridtools.incidents import geocode, event_types, IncidentStore
"""

from gridtools.incidents.locate import (
    GeocodeResult,
    PreparedGrids,
    code_levels,
    geocode,
    geocode_prepared,
    locate_points,
    prepare_grids,
)
from gridtools.incidents.types import WorkCalendar, event_types
from gridtools.incidents.workflow import ImportResult, IncidentStore

__all__ = [
    "GeocodeResult",
    "ImportResult",
    "IncidentStore",
    "PreparedGrids",
    "WorkCalendar",
    "code_levels",
    "event_types",
    "geocode",
    "geocode_prepared",
    "locate_points",
    "prepare_grids",
]

"""Incidents: geocoding events to grids (and, later, event types and the closed-loop workflow).

Examples
--------
>>> from gridtools.incidents import geocode, locate_points
"""

from gridtools.incidents.geocode import GeocodeResult, code_levels, geocode, locate_points

__all__ = ["GeocodeResult", "code_levels", "geocode", "locate_points"]

"""Where a new report goes: its grid (points from phones in GCJ-02 / BD-09 converted), and the work
order to that grid's head, or to the department in charge of the component the report names or
stands next to (the component register's ``dept_in_charge``).

Assignees are named ``grid:<grid code>`` (the grid head, as :meth:`IncidentStore.dispatch` names
the grid team) and ``department:<name>``.

Examples
--------
>>> router = ReportRouter(io.read_any("grids.gpkg", layer="grids"), components=open_store("c.gpkg"))  # doctest: +SKIP
>>> router.route(120.6051, 31.3052, crs="gcj02").assignee                                  # doctest: +SKIP
'grid:32050901900200100'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridtools import coords
from gridtools.errors import InputError
from gridtools.incidents.locate import code_levels, locate_points

__all__ = ["ReportRouter", "Route", "COMPONENT_METRES"]

#: A report this close to a component (great-circle metres) is about that component.
COMPONENT_METRES = 5.0


@dataclass(frozen=True)
class Route:
    """Where one report goes.

    Attributes
    ----------
    lon, lat : float
        WGS-84 position.
    grid_code, community_code, street_code : str or None
        None outside every grid.
    assignee : str or None
        ``department:<name>``, ``grid:<code>``, or None (outside every grid: the dispatcher decides).
    department : str or None
        The component's department in charge.
    component_code : str or None
    """

    lon: float
    lat: float
    grid_code: str | None
    community_code: str | None
    street_code: str | None
    assignee: str | None
    department: str | None
    component_code: str | None


class ReportRouter:
    """Routes reports to grid heads and departments.

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        Grid polygons with a ``grid_code`` column (any CRS).
    components : ComponentStore, optional
        The component register (:func:`gridtools.components.open_store`).
    component_metres : float
        How close a report must be to a component to be about it.
    """

    def __init__(self, grids, components=None, *, component_metres: float = COMPONENT_METRES):
        if "grid_code" not in grids.columns:
            raise InputError(f"the grids have no grid_code column (columns: {', '.join(map(str, grids.columns))})")
        self.grids = grids
        self._codes = grids["grid_code"].astype(str).to_numpy()
        self._polygons = grids.geometry.to_numpy()
        self.components = components
        self.component_metres = float(component_metres)

    def grid_of(self, lon: float, lat: float) -> str | None:
        """The grid code at a WGS-84 point (None outside every grid)."""
        x, y = (lon, lat)
        if self.grids.crs is not None and not self.grids.crs.equals("EPSG:4326"):
            x, y = coords.convert(lon, lat, "wgs84", self.grids.crs)
        where = locate_points(np.array([x], float), np.array([y], float), self._polygons)[0]
        return None if where < 0 else str(self._codes[where])

    def route(self, lon: float, lat: float, *, crs: str = "wgs84", component_code: str | None = None) -> Route:
        """Route a report at (*lon*, *lat*) in *crs* (``wgs84``, ``gcj02`` or ``bd09``).

        Raises
        ------
        InputError
            Unusable coordinates, or a *component_code* not in the register.
        """
        lon, lat = _wgs84(lon, lat, crs)
        department, code = None, None
        if self.components is not None:
            found = (self.components.get(component_code) if component_code
                     else self.components.nearest(lon, lat, k=1, max_distance_m=self.component_metres))
            if len(found):
                code, department = str(found["code"].iloc[0]), _text(found["dept_in_charge"].iloc[0])
        elif component_code:
            raise InputError(f"component {component_code!r} given but the service has no component register "
                             "(--components).")
        grid = self.grid_of(lon, lat)
        levels = code_levels([grid]).iloc[0] if grid else {"community_code": None, "street_code": None}
        assignee = f"department:{department}" if department else (f"grid:{grid}" if grid else None)
        return Route(lon, lat, grid, levels["community_code"] or None, levels["street_code"] or None, assignee,
                     department, code)


def _text(value) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _wgs84(lon, lat, crs: str) -> tuple[float, float]:
    try:
        lon, lat = float(lon), float(lat)
    except (TypeError, ValueError):
        raise InputError(f"lon={lon!r}, lat={lat!r}: give numbers in degrees.") from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90) or np.isnan(lon) or np.isnan(lat):
        raise InputError(f"lon={lon}, lat={lat} is not a longitude/latitude.")
    name = str(crs).lower().replace("-", "")
    if name not in ("wgs84", "gcj02", "bd09"):
        raise InputError(f"crs={crs!r}: a report's point is in wgs84, gcj02 (most Chinese phone maps) or bd09.")
    if name == "wgs84":
        return lon, lat
    x, y = coords.convert(lon, lat, name, "wgs84")
    return float(x), float(y)

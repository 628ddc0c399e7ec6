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

import time
from dataclasses import dataclass

import numpy as np

from gridtools import coords
from gridtools.errors import InputError
from gridtools.incidents.locate import code_levels, locate_points

__all__ = ["COMPONENT_METRES", "ReportRouter", "Route"]

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
    refresh_seconds : float
        The active components' points are held in memory (a spatial lookup per report instead
        of a register query) and read again after this many seconds, so components added to
        the register are found within a minute.
    """

    def __init__(self, grids, components=None, *, component_metres: float = COMPONENT_METRES,
                 refresh_seconds: float = 60.0):
        if "grid_code" not in grids.columns:
            raise InputError(f"the grids have no grid_code column (columns: {', '.join(map(str, grids.columns))})")
        self.grids = grids
        self._codes = grids["grid_code"].astype(str).to_numpy()
        self._polygons = grids.geometry.to_numpy()
        levels = code_levels(self._codes)  # once: the per-report lookup is a dict
        self._levels = dict(zip(self._codes, zip(levels["community_code"], levels["street_code"], strict=True),
                                strict=True))
        self.components = components
        self.component_metres = float(component_metres)
        self.refresh_seconds = float(refresh_seconds)
        self._snapshot_at = -np.inf
        self._lamps = None

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
            if component_code:
                found = self.components.get(component_code)
                code, department = str(found["code"].iloc[0]), _text(found["dept_in_charge"].iloc[0])
            else:
                code, department = self.component_at(lon, lat)
        elif component_code:
            raise InputError(f"component {component_code!r} given but the service has no component register "
                             "(--components).")
        grid = self.grid_of(lon, lat)
        community, street = self._levels.get(grid, (None, None))
        assignee = f"department:{department}" if department else (f"grid:{grid}" if grid else None)
        return Route(lon, lat, grid, community or None, street or None, assignee, department, code)

    def component_at(self, lon: float, lat: float) -> tuple[str | None, str | None]:
        """``(code, department)`` of the nearest active component within the distance, else Nones."""
        now = time.monotonic()
        if self._lamps is None or now - self._snapshot_at > self.refresh_seconds:
            table = self.components.query(status="active")
            self._lamps = (table["code"].astype(str).to_numpy(), table.geometry.x.to_numpy(),
                           table.geometry.y.to_numpy(), table["dept_in_charge"].to_numpy(object))
            self._snapshot_at = now
        codes, xs, ys, departments = self._lamps
        if not len(codes):
            return None, None
        window = self.component_metres / 111_000.0 * 2
        close = np.flatnonzero((np.abs(ys - lat) < window) & (np.abs(xs - lon) < window * 3))
        if not len(close):
            return None, None
        d = coords.distance_m(lon, lat, xs[close], ys[close])
        best = int(np.argmin(d))
        if d[best] > self.component_metres:
            return None, None
        return codes[close[best]], _text(departments[close[best]])


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

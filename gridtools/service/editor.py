"""The browser grid editor (``gridtools grids edit grids.gpkg``): FastAPI + Leaflet, offline.

A thin shell over :class:`gridtools.grids.edits.PlanEditor`.  The page (``templates/editor.html``)
loads Leaflet from the vendored copies in ``gridtools/templates/vendor`` (served by this app, no
internet needed) and the units as GeoJSON; a click (shift-click adds, *Box* mode drags a
rectangle) selects units, *Move* sends them to a grid, each grid's tally is coloured against the
band, grids can be locked, edits undone and redone, and *Save* writes the plan back to the
GeoPackage: layer ``units`` (with ``grid_code``), ``grids`` (dissolved, with tallies) and
``edit_history`` (every edit of every session, appended).

Endpoints: ``GET /`` (page), ``/units.geojson``, ``/state``; ``POST /move`` ``{"units": [ids],
"to": grid}``, ``/neighbours`` ``{"units": [ids]}``, ``/lock`` ``{"grid": g, "locked": bool}``,
``/rebalance``, ``/undo``, ``/redo``, ``/save``.  Refused edits answer 200 with ``ok: false`` and the reason.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from gridtools.errors import GridtoolsError, missing_dependency

try:
    from fastapi import FastAPI
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
    from pydantic import BaseModel
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_dependency("fastapi", "service") from exc

from gridtools import io
from gridtools.grids.edits import PlanEditor
from gridtools.maps.base import VENDOR, band_colors, to_wgs84

__all__ = ["EditSession", "create_editor_app"]

TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "editor.html"
#: Files of ``templates/vendor`` the page may load.
_ASSETS = {"leaflet.js": "text/javascript", "leaflet.css": "text/css"}


class EditSession:
    """One GeoPackage opened for editing: the editor, the units as GeoJSON, saving with history.

    Parameters
    ----------
    units : geopandas.GeoDataFrame
        The ``units`` layer (every unit with its grid).
    pop : str
        Population column.
    path : pathlib.Path
        The GeoPackage to save back to.
    assignment : str
        Column naming each unit's grid.
    min_pop, max_pop : float, optional
        Band.
    within : str, optional
        Nesting column: units never move across it.
    history : pandas.DataFrame, optional
        The ``edit_history`` layer saved by earlier sessions (kept and appended to).
    locked : iterable of str
        Grids locked in an earlier session (the ``locked`` column of the saved ``grids`` layer).

    Examples
    --------
    >>> session = EditSession(units, "pop", Path("grids.gpkg"))     # doctest: +SKIP
    >>> session.move([12], "32050801904400400")["ok"]               # doctest: +SKIP
    """

    def __init__(self, units: gpd.GeoDataFrame, pop: str, path: Path, *, assignment: str = "grid_code",
                 min_pop: float | None = None, max_pop: float | None = None, within: str | None = None,
                 history: pd.DataFrame | None = None, locked=()):
        self.units = units.reset_index(drop=True)
        self.path = Path(path)
        self.assignment = assignment
        self.editor = PlanEditor(self.units, assignment, pop, min_pop=min_pop, max_pop=max_pop, within=within)
        self.editor.lock(*[g for g in locked if str(g) in self.editor.names])
        self.history = history if history is not None else pd.DataFrame(columns=["time", "edit", "units", "grids"])
        self.started = len(self.editor.log)
        wgs = to_wgs84(self.units[["geometry"]], "units")
        self._geojson = json.loads(gpd.GeoDataFrame({"id": np.asarray(wgs.index, dtype=np.int64)}, geometry=wgs.geometry.values,
                                                    crs=wgs.crs).to_json(drop_id=True))
        self.times: list[str] = []

    @staticmethod
    def locked_in(grids: pd.DataFrame | None) -> list[str]:
        """Grids marked locked in a ``grids`` layer an earlier :meth:`save` wrote (empty when none)."""
        if grids is None or "locked" not in grids.columns or "grid_code" not in grids.columns:
            return []
        return grids.loc[grids["locked"].astype(str).isin(["True", "1"]), "grid_code"].astype(str).tolist()

    def geojson(self) -> dict:
        """The units in WGS-84, each with its ``id`` (position)."""
        return self._geojson

    def state(self) -> dict:
        """Grid of every unit, tallies per grid (coloured against the band), undo / redo availability."""
        tallies = self.editor.tallies()
        colours = band_colors(tallies["population"].to_numpy(), self.editor.lo, self.editor.hi)
        grids = [{"grid": str(r.grid), "population": float(r.population), "n_units": int(r.n_units),
                  "in_band": bool(r.in_band), "locked": bool(r.locked), "color": str(c)}
                 for r, c in zip(tallies.itertuples(index=False), colours)]
        return {"labels": [str(n) for n in np.asarray(self.editor.names, dtype=object)[self.editor.labels]],
                "grids": grids, "band": [self.editor.lo, self.editor.hi],
                "can_undo": bool(self.editor.history), "can_redo": bool(self.editor.redo_stack)}

    def _answer(self, result) -> dict:
        if result.ok:
            self.times.append(dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
        return {"ok": bool(result.ok), "reason": result.reason, "state": self.state()}

    def move(self, ids: list[int], to: str) -> dict:
        """Move units (positions) to grid ``to``; the answer carries the reason when refused."""
        return self._answer(self.editor.move(list(map(int, ids)), to))

    def neighbours(self, ids: list[int]) -> list[str]:
        """Grids touching the given units (other than their own), most shared boundary first."""
        e = self.editor
        ids = np.asarray(ids, dtype=np.int64)
        own = set(e.labels[ids].tolist())
        touching: dict[int, float] = {}
        for u in ids:
            for k in range(e.indptr[u], e.indptr[u + 1]):
                g = int(e.labels[e.indices[k]])
                if g not in own:
                    touching[g] = touching.get(g, 0.0) + float(e.lengths[k])
        return [e.names[g] for g, _ in sorted(touching.items(), key=lambda item: -item[1])]

    def lock(self, grid: str, locked: bool) -> dict:
        """Lock or unlock a grid."""
        (self.editor.lock if locked else self.editor.unlock)(grid)
        return {"ok": True, "reason": "", "state": self.state()}

    def rebalance(self) -> dict:
        """Redraw the unlocked grids towards the band (locked grids untouched)."""
        return self._answer(self.editor.rebalance())

    def undo(self) -> dict:
        return self._answer(self.editor.undo())

    def redo(self) -> dict:
        return self._answer(self.editor.redo())

    def save(self) -> dict:
        """Write units, grids and the appended edit history back to the GeoPackage."""
        units = self.units.copy()
        units[self.assignment] = self.editor.assignment().to_numpy()
        new = pd.DataFrame(self.editor.log[self.started:])
        if len(new):
            new.insert(0, "time", dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
        history = pd.concat([self.history, new], ignore_index=True) if len(new) else self.history
        io.write_any(units, self.path, layer="units")
        io.write_any(self.editor.grids_frame(), self.path, layer="grids")
        io.write_any(history.astype(str), self.path, layer="edit_history")
        self.history, self.started = history, len(self.editor.log)
        return {"ok": True, "reason": f"saved {self.path.name}: {len(history)} edits in the history",
                "state": self.state()}


class _Units(BaseModel):
    units: list[int]


class _Move(BaseModel):
    units: list[int]
    to: str


class _Lock(BaseModel):
    grid: str
    locked: bool


def create_editor_app(session: EditSession) -> FastAPI:
    """The editor's FastAPI app over one :class:`EditSession`.

    Examples
    --------
    >>> import uvicorn                                        # doctest: +SKIP
    >>> uvicorn.run(create_editor_app(session), port=8765)    # doctest: +SKIP
    """
    app = FastAPI(title="gridtools grid editor", docs_url=None, redoc_url=None)
    page = TEMPLATE.read_text(encoding="utf-8").replace("{{title}}", html.escape(session.path.name))

    @app.exception_handler(GridtoolsError)
    async def refused(_request, exc: GridtoolsError):
        return JSONResponse({"ok": False, "reason": str(exc), "state": session.state()}, status_code=422)

    @app.get("/", response_class=HTMLResponse)
    def index():
        return page

    @app.get("/vendor/{name}")
    def vendor(name: str):
        if name not in _ASSETS:
            return JSONResponse({"detail": "not found"}, status_code=404)
        return FileResponse(VENDOR / name, media_type=_ASSETS[name])

    @app.get("/units.geojson")
    def units():
        return session.geojson()

    @app.get("/state")
    def state():
        return session.state()

    @app.post("/move")
    def move(body: _Move):
        return session.move(body.units, body.to)

    @app.post("/neighbours")
    def neighbours(body: _Units):
        return {"grids": session.neighbours(body.units)}

    @app.post("/lock")
    def lock(body: _Lock):
        return session.lock(body.grid, body.locked)

    @app.post("/rebalance")
    def rebalance():
        return session.rebalance()

    @app.post("/undo")
    def undo():
        return session.undo()

    @app.post("/redo")
    def redo():
        return session.redo()

    @app.post("/save")
    def save():
        return session.save()

    return app

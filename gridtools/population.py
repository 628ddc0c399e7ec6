"""Population inputs: per-building estimates and their sums on polygon units.

Grids are drawn on atomic units (street blocks, census blocks) that each carry a head count.
Two steps turn the population data a district usually has into those counts:

1. :func:`estimate_building_population` spreads a known district total over building
   footprints (dasymetric mapping) when no per-building counts exist.
2. :func:`aggregate_to_units` sums per-feature counts (buildings, household-register points)
   into the polygon units that contain them.

Both take and return plain GeoDataFrames, so an estimate can be inspected, edited by hand (set
the count of a building you know) and passed on, e.g. as ``--pop pop_est`` on the command line.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box
>>> houses = gpd.GeoDataFrame({"building:levels": ["2", "6"]},
...                           geometry=[box(0, 0, 10, 10), box(20, 0, 30, 10)], crs=32651)
>>> est = estimate_building_population(houses, total=80)
>>> est["pop_est"].tolist()
[20, 60]
"""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from gridtools import settings
from gridtools.building_use import RESIDENTIAL_SHARE_BY_TAG, non_residential_reasons, osm_other_tags
from gridtools.io import local_metric_crs
from gridtools.errors import CRSError, InputError, rows_where

#: Residents per m² of residential floor area, used when no district ``total`` is given.
#: 1/30 reflects about 30 m² of housing floor area per person, the order of urban China's
#: per-capita living space in the 2010s; it only sets the scale, the spatial pattern comes
#: from floor area.
DEFAULT_PERSONS_PER_M2: float = 1.0 / 30.0

# A number in a tag value: "5", "3.5", "12,5" (decimal comma), inside "5;6" or "12 m".
_NUMBER = r"(\d+(?:[.,]\d+)?)"


def estimate_building_population(
    buildings: gpd.GeoDataFrame,
    total: float | None = None,
    *,
    levels_col: str = "building:levels",
    height_col: str = "height",
    storey_height: float | None = None,
    residential_share: float | None = None,
    residential_col: str | None = None,
    tag_col: str | None = "building",
    default_levels: float = 1,
    persons_per_m2: float = DEFAULT_PERSONS_PER_M2,
    out_col: str = "pop_est",
) -> gpd.GeoDataFrame:
    """Estimate residents per building by dasymetric allocation of a total over floor area.

    Each building gets a weight ``footprint area x floors x residential share``; the district
    ``total`` is then split in proportion to the weights and rounded to whole persons so that
    the counts sum to ``total`` exactly (largest-remainder rounding).

    * Footprint area is measured in m² in a local metric CRS, whatever CRS the input has.
    * Floors come from ``levels_col`` (OSM ``building:levels``; "5", "3.5", "12,5"; a list such
      as "5;6" counts as the mean of its values); else from ``height_col`` divided by
      ``storey_height`` (at least 1 floor; "12", "12 m"); else ``default_levels``.  Missing,
      unparsable and non-positive values fall through to the next source.
    * Residential share: the per-building column ``residential_col`` (0-1) if given; else the
      :data:`RESIDENTIAL_SHARE_BY_TAG` value of the building's ``tag_col`` tag (OSM
      ``building``); else the scalar ``residential_share``.

    Parameters
    ----------
    buildings : geopandas.GeoDataFrame
        Building footprints (Polygon or MultiPolygon) with a CRS.  Drop OSM ``building:part``
        features first: they overlap their building and would count its floor area twice.
    total : float, optional
        Residents of the district (a whole number, >= 0).  If None, the total is
        ``persons_per_m2 x residential floor area``, rounded.
    levels_col, height_col : str
        Columns holding floor counts and heights in metres; missing columns are skipped.
    storey_height : float, optional
        Metres per floor to turn heights into floors; default ``settings.storey_height_m``
        (read at call time so changing ``settings`` takes effect).
    residential_share : float, optional
        Share (0-1) for buildings without a per-building value or known tag; default
        ``settings.residential_share``.
    residential_col : str, optional
        Column with a per-building residential share in [0, 1]; overrides tags.
    tag_col : str or None
        Column with the OSM ``building`` tag mapped through :data:`RESIDENTIAL_SHARE_BY_TAG`;
        None to ignore tags.  Skipped if the column is absent.
    default_levels : float
        Floors assumed when neither levels nor height is known.
    persons_per_m2 : float
        Residents per m² of residential floor area, used only when ``total`` is None.
    out_col : str
        Name of the integer count column; the unrounded estimate goes to ``{out_col}_raw``.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy of ``buildings`` (same index, CRS and columns) plus ``floors``,
        ``floors_source`` ("levels", "height" or "default"), ``floor_area_m2``,
        ``res_share``, ``{out_col}_raw`` (float), ``out_col`` (int64, summing to the total) and
        ``excluded`` (why a building gets no residents by its OSM tags, '' where it counts: see
        :mod:`gridtools.building_use`; ``attrs["excluded"]`` counts the reasons).
        Edit ``out_col`` where local knowledge is better and pass the frame on as population.

    Raises
    ------
    InputError
        If a geometry is not a polygon, no building has an area, ``total`` is negative or not
        whole, or every building has a residential share of zero.
    CRSError
        If ``buildings`` has no CRS.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> b = gpd.GeoDataFrame({"height": [30.0, None], "building": ["apartments", "office"]},
    ...                      geometry=[box(0, 0, 10, 10), box(20, 0, 30, 10)], crs=32651)
    >>> est = estimate_building_population(b, total=100)
    >>> est[["floors", "floors_source", "res_share", "pop_est"]].values.tolist()
    [[10.0, 'height', 1.0, 100], [1.0, 'default', 0.0, 0]]
    """
    storey = settings.storey_height_m if storey_height is None else storey_height
    share_default = settings.residential_share if residential_share is None else residential_share
    _check_positive(storey=storey, default_levels=default_levels, persons_per_m2=persons_per_m2)
    if not 0 <= share_default <= 1:
        raise InputError(f"residential_share must be between 0 and 1, got {share_default}")
    total = _check_total(total)
    _check_polygons(buildings, "buildings")

    area = _footprint_area(buildings)
    if not (area > 0).any():
        raise InputError(
            f"none of the {len(buildings)} buildings has a footprint area: pass building "
            "polygons (not points or lines) with a CRS"
        )
    floors, source = _floors(buildings, levels_col, height_col, storey, default_levels)
    share = _residential_share(buildings, residential_col, tag_col, share_default)
    excluded = pd.Series("", index=buildings.index, dtype=object)
    if residential_col is None and tag_col is not None:
        height = _tag_numbers(buildings, height_col)
        excluded = non_residential_reasons(buildings, tag_col=tag_col, height=height)
        share = np.where(excluded.to_numpy() != "", 0.0, share)
    # a collapsed ring (OSM: two points closed by the reader) is a building without a footprint
    excluded = excluded.where((area > 0) | (excluded != ""), "no footprint area (collapsed ring)")

    floor_area = area * floors
    weight = floor_area * share
    if weight.sum() <= 0 and total != 0:
        raise InputError(
            "every building has a residential share of 0, so there is nowhere to put the "
            f"population: check '{residential_col or tag_col}' or raise residential_share"
        )
    if total is None:
        raw = weight * persons_per_m2
        total = int(round(raw.sum()))
    else:
        raw = weight * (total / weight.sum()) if total else np.zeros(len(weight))

    out = buildings.copy()
    out["floors"] = floors
    out["floors_source"] = source
    out["floor_area_m2"] = floor_area
    out["res_share"] = share
    out[f"{out_col}_raw"] = raw
    out[out_col] = round_preserving_total(raw, total)
    out["excluded"] = excluded
    out.attrs["excluded"] = excluded[excluded != ""].value_counts().to_dict()
    return out


def excluded_summary(estimate: gpd.GeoDataFrame, limit: int = 6) -> str:
    """One line saying how many buildings an estimate gave no residents, and why.

    Examples
    --------
    >>> est = gpd.GeoDataFrame({"excluded": ["", "building=office", "building=office"]},
    ...                        geometry=[None] * 3)
    >>> excluded_summary(est)
    '2 of 3 buildings get no residents: 2 building=office'
    """
    reasons = estimate["excluded"][estimate["excluded"] != ""].value_counts()
    if reasons.empty:
        return f"all {len(estimate):,} buildings can house residents (none excluded by its tags)"
    shown = ", ".join(f"{n:,} {why}" for why, n in reasons.head(limit).items())
    more = f", {reasons.iloc[limit:].sum():,} other" if len(reasons) > limit else ""
    return f"{reasons.sum():,} of {len(estimate):,} buildings get no residents: {shown}{more}"


def round_preserving_total(values, total: int | None = None) -> np.ndarray:
    """Round non-negative values to integers that sum exactly to ``total``.

    Largest-remainder (Hamilton) rounding: every value is rounded down, then the values with
    the largest fractional parts get one more until the sum is reached.  Ties go to the
    earlier value, so the result is deterministic.

    Parameters
    ----------
    values : array-like of float
        Non-negative shares that sum (up to floating-point error) to ``total``.
    total : int, optional
        Required sum; default ``round(sum(values))``.

    Returns
    -------
    numpy.ndarray of int64

    Examples
    --------
    >>> round_preserving_total([0.3, 0.6, 1.1], 2).tolist()
    [0, 1, 1]
    """
    values = np.asarray(values, dtype=float)
    total = int(round(values.sum())) if total is None else int(total)
    counts = np.floor(values)
    short = int(round(total - counts.sum()))
    if not 0 <= short <= len(values):
        raise InputError(f"cannot round values summing to {values.sum():g} to a total of {total}")
    # Stable sort: equal remainders are served in row order, the same on every run.
    order = np.argsort(-(values - counts), kind="stable")
    counts[order[:short]] += 1
    return counts.astype(np.int64)


def aggregate_to_units(
    units: gpd.GeoDataFrame,
    features: gpd.GeoDataFrame,
    pop: str | None = None,
    *,
    how: str = "representative_point",
) -> tuple[gpd.GeoDataFrame, pd.Series]:
    """Sum the population of features (buildings, register points) into the units holding them.

    Each feature goes whole to one unit (a building is never split): the unit containing its
    representative point (a point guaranteed inside the polygon; points stay as they are).
    The lookup is one vectorized STRtree query (as in :func:`geopandas.sjoin`).  A point on the
    shared edge of two units, or inside overlapping units, goes to the first of them in the
    order of ``units`` - deterministic, but fix overlapping units rather than rely on it.

    Parameters
    ----------
    units : geopandas.GeoDataFrame
        Polygon units (e.g. from :func:`gridtools.blocks.blocks_from_network`) with a CRS.
    features : geopandas.GeoDataFrame
        Points or polygons with a CRS; reprojected to the units' CRS if it differs.
    pop : str, optional
        Numeric column of ``features`` with non-negative counts; None counts each feature as
        one person (one row per resident).
    how : {"representative_point", "centroid"}
        Point used to place polygons.  A centroid may fall outside an L-shaped building.

    Returns
    -------
    units : geopandas.GeoDataFrame
        A copy of ``units`` with column ``pop`` (or "pop" when ``pop`` is None) set to the sum
        over its features; 0 where a unit has none.  An existing column of that name is
        replaced.
    unit : pandas.Series
        For each feature (same index as ``features``), the index label of its unit.

    Raises
    ------
    InputError
        If ``pop`` is missing, not numeric, empty or negative, or features fall in no unit.
    CRSError
        If either frame has no CRS.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box, Point
    >>> units = gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs=32651)
    >>> reg = gpd.GeoDataFrame({"n": [3, 4, 5]}, crs=32651,
    ...                        geometry=[Point(0.5, 0.5), Point(1.5, 0.5), Point(1.2, 0.2)])
    >>> counts, unit = aggregate_to_units(units, reg, "n")
    >>> counts["n"].tolist(), unit.tolist()
    ([3, 9], [0, 1, 1])
    """
    _require_crs(units, "units")
    _require_crs(features, "features")
    if how not in ("representative_point", "centroid"):
        raise InputError(f"how must be 'representative_point' or 'centroid', got {how!r}")
    _check_polygons(units, "units")
    _check_geometries(features, "features")
    values = _count_column(features, pop)

    geoms = features.geometry
    if not CRS(features.crs).equals(CRS(units.crs)):
        geoms = geoms.to_crs(units.crs)
    points = geoms.representative_point() if how == "representative_point" else geoms.centroid

    feat_pos, unit_pos = units.sindex.query(points.values, predicate="intersects")
    # Sort the hits by (feature, unit) so the first hit of each feature is its first unit.
    order = np.lexsort((unit_pos, feat_pos))
    feat_pos, unit_pos = feat_pos[order], unit_pos[order]
    first = np.unique(feat_pos, return_index=True)[1]
    assigned = np.full(len(features), -1)
    assigned[feat_pos[first]] = unit_pos[first]

    outside = np.flatnonzero(assigned < 0)
    if outside.size:
        raise InputError(
            f"{outside.size} of {len(features)} features lie in no unit "
            f"({rows_where(outside, features.index)}): the units do not cover them; use a "
            "larger boundary (e.g. a bigger buffer_m in boundary_from_features) or remove "
            "those features"
        )

    col = pop if pop is not None else "pop"
    sums = np.bincount(assigned, weights=values, minlength=len(units))
    out = units.copy()
    out[col] = sums.astype(np.int64) if np.issubdtype(values.dtype, np.integer) else sums
    unit = pd.Series(units.index[assigned], index=features.index, name="unit")
    return out, unit


def _floors(
    gdf: gpd.GeoDataFrame, levels_col: str, height_col: str, storey: float, default: float
) -> tuple[np.ndarray, np.ndarray]:
    """Floors per building and where each value came from."""
    levels = _tag_numbers(gdf, levels_col)
    height = _tag_numbers(gdf, height_col)
    # Zero or negative levels/heights are placeholders in OSM, not real measurements.
    has_levels = levels > 0
    has_height = ~has_levels & (height > 0)
    # A building lower than a storey is still one storey of floor area.
    from_height = np.maximum(height / storey, 1.0)
    floors = np.where(has_levels, levels, np.where(has_height, from_height, float(default)))
    source = np.select([has_levels, has_height], ["levels", "height"], "default")
    return floors, source


def _tag_numbers(gdf: gpd.GeoDataFrame, col: str) -> np.ndarray:
    """Numbers of column *col*, or of that tag inside GDAL's OSM ``other_tags``; NaN where absent."""
    if col in gdf.columns:
        return _parse_numbers(gdf[col])
    if "other_tags" in gdf.columns:
        return _parse_numbers(osm_other_tags(gdf["other_tags"], [col])[col])
    return np.full(len(gdf), np.nan)


def _footprint_area(gdf: gpd.GeoDataFrame) -> np.ndarray:
    """Footprint areas in m² (an invalid polygon is measured after shapely.make_valid)."""
    geoms = gdf.geometry.to_crs(local_metric_crs(gdf)).to_numpy()
    invalid = ~shapely.is_valid(geoms)
    geoms[invalid] = shapely.make_valid(geoms[invalid])
    return shapely.area(geoms)


def _parse_numbers(values: pd.Series) -> np.ndarray:
    """Mean of the numbers in each value: 5 -> 5, "5;6" -> 5.5, "12 m" -> 12, "x" -> nan."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return pd.to_numeric(values).to_numpy(dtype=float, na_value=np.nan)
    # Positional index: extractall/groupby must not merge rows that share a label.
    text = pd.Series(values.to_numpy(), dtype="string")
    found = text.str.extractall(_NUMBER)[0].str.replace(",", ".", regex=False).astype(float)
    means = found.groupby(level=0).mean().reindex(range(len(text)))
    return means.to_numpy(dtype=float, na_value=np.nan)


def _residential_share(
    gdf: gpd.GeoDataFrame, residential_col: str | None, tag_col: str | None, default: float
) -> np.ndarray:
    """Residential share per building: explicit column, else tag table, else the scalar."""
    if residential_col is not None:
        share = _numeric(gdf, residential_col, "buildings")
        bad = np.flatnonzero(np.isnan(share) | (share < 0) | (share > 1))
        if bad.size:
            raise InputError(
                f"column '{residential_col}' must hold shares between 0 and 1 for every "
                f"building; {rows_where(bad, gdf.index)} do not"
            )
        return share
    share = np.full(len(gdf), float(default))
    if tag_col is not None and tag_col in gdf.columns:
        tags = pd.Series(gdf[tag_col].to_numpy(), dtype="string").str.strip().str.lower()
        mapped = tags.map(_lookup(RESIDENTIAL_SHARE_BY_TAG)).to_numpy(dtype=float, na_value=np.nan)
        share = np.where(np.isnan(mapped), share, mapped)
    return share


def _lookup(table: Mapping[str, float]) -> dict[str, float]:
    """The tag table with float values (guards against ints in a user-edited dict)."""
    return {str(k).lower(): float(v) for k, v in table.items()}


def _count_column(features: gpd.GeoDataFrame, pop: str | None) -> np.ndarray:
    """Validated non-negative counts per feature (ones when ``pop`` is None)."""
    if pop is None:
        return np.ones(len(features), dtype=np.int64)
    values = _numeric(features, pop, "features")
    bad = np.flatnonzero(np.isnan(values) | (values < 0))
    if bad.size:
        raise InputError(
            f"population column '{pop}' is empty or negative in "
            f"{rows_where(bad, features.index)}: fill in a count >= 0 (0 if nobody lives there)"
        )
    whole = np.all(values == np.round(values))
    return values.astype(np.int64) if whole else values


def _numeric(gdf: gpd.GeoDataFrame, col: str, what: str) -> np.ndarray:
    """Column ``col`` as floats, with an actionable error if absent or not numeric."""
    if col not in gdf.columns:
        cols = ", ".join(map(str, gdf.columns.drop(gdf.geometry.name, errors="ignore")))
        raise InputError(f"{what} have no column '{col}'; available columns: {cols or 'none'}")
    values = pd.to_numeric(gdf[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    text = np.isnan(values) & gdf[col].notna().to_numpy()
    if text.any():
        raise InputError(
            f"column '{col}' of {what} is not numeric in {rows_where(text, gdf.index)} "
            f"(e.g. {gdf[col][text].iloc[0]!r}): fix or remove those values"
        )
    return values


def _check_total(total: float | None) -> int | None:
    """The district total as an int, or None."""
    if total is None:
        return None
    if not np.isfinite(total) or total < 0 or total != round(total):
        raise InputError(f"total must be a whole number of residents >= 0, got {total!r}")
    return int(round(total))


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise InputError(f"{name} must be positive, got {value!r}")


def _require_crs(gdf: gpd.GeoDataFrame, what: str) -> None:
    if gdf.crs is None:
        raise CRSError(
            f"{what} have no coordinate reference system: set one with "
            "gdf.set_crs('EPSG:4326') (or the CRS the coordinates are really in)"
        )


def _check_geometries(gdf: gpd.GeoDataFrame, what: str) -> None:
    """Every row has a non-empty geometry."""
    missing = np.flatnonzero(gdf.geometry.isna().to_numpy() | gdf.geometry.is_empty.to_numpy())
    if missing.size:
        raise InputError(
            f"{what} have no geometry in {rows_where(missing, gdf.index)}: add coordinates "
            "or remove those rows"
        )


def _check_polygons(gdf: gpd.GeoDataFrame, what: str) -> None:
    """Every row is a non-empty (Multi)Polygon and the frame has a CRS."""
    _require_crs(gdf, what)
    _check_geometries(gdf, what)
    kind = shapely.get_type_id(gdf.geometry.values)
    bad = np.flatnonzero(~np.isin(kind, (3, 6)))  # 3 Polygon, 6 MultiPolygon
    if bad.size:
        types = sorted(set(gdf.geometry.geom_type.iloc[bad]))
        raise InputError(
            f"{what} must be polygons; {rows_where(bad, gdf.index)} are "
            f"{'/'.join(types)}: remove them or buffer points into footprints"
        )

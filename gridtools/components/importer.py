"""Check, place and code components, then write them to the register in whole batches.

:func:`prepare_components` is pure (GeoDataFrames in, GeoDataFrame + problem table out);
:func:`import_components` writes the prepared rows to a :class:`~gridtools.components.store.ComponentStore`
in transactions of ``settings.components_batch_size`` rows.  Re-running an import skips rows
whose source key is already in the register, so an interrupted import resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridtools import settings
from gridtools.errors import CRSError, InputError, rows_where
from gridtools.crs import to_metric
from gridtools import validate

__all__ = ["ImportResult", "prepare_components", "import_components", "place_in_grids", "FIELD_ALIASES"]

#: Input column names recognised for each component field (case-insensitive).  The upper-case
#: names are the attribute fields of deployed digital city-management systems (ObjName,
#: DeptName1 = department in charge, DeptName2 = owner, DeptName3 = maintainer).
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("name", "objname", "名称", "部件名称"),
    "dept_in_charge": ("dept_in_charge", "deptname1", "主管部门"),
    "owner": ("owner", "deptname2", "权属单位", "权属部门"),
    "maintainer": ("maintainer", "deptname3", "养护单位", "维护单位"),
    "note": ("note", "备注"),
}
#: Columns used as the class code when --class-col is not given.
CLASS_ALIASES = ("class_code", "class", "subclass", "部件小类代码", "小类代码")
#: Columns used as the external id (source key) when key_col is not given.
KEY_ALIASES = ("source_key", "external_id", "ext_id", "objid", "osm_key")


@dataclass
class ImportResult:
    """What an import did.

    Attributes
    ----------
    source : str
    inserted : DataFrame
        ``row`` (1-based input row), ``source_key``, ``code`` of the components added.
    skipped_existing : int
        Rows already in the register (same source key): re-imports and resumed imports.
    rejected : DataFrame
        ``row``, ``reason``, ``value`` of rows not imported (only with ``on_error="skip"``).
    outside_grids : DataFrame
        ``row``, ``code``, ``lon``, ``lat`` of components stored with an empty grid_code.
    points_from_shapes : int
        Lines / polygons stored at a point inside them.
    batches : int
        Transactions committed.
    """

    source: str
    inserted: pd.DataFrame
    skipped_existing: int
    rejected: pd.DataFrame
    outside_grids: pd.DataFrame
    points_from_shapes: int = 0
    batches: int = 0
    by_class: dict = field(default_factory=dict)

    @property
    def summary(self) -> dict:
        return {"source": self.source, "inserted": len(self.inserted), "skipped_existing": self.skipped_existing,
                "rejected": len(self.rejected), "outside_grids": len(self.outside_grids),
                "points_from_shapes": self.points_from_shapes, "batches": self.batches, "by_class": self.by_class}

    def summary_lines(self) -> list[str]:
        lines = [f"{self.source}: {len(self.inserted):,} components added in {self.batches} batch(es), "
                 f"{self.skipped_existing:,} already in the register"]
        if self.by_class:
            lines.append("by class: " + ", ".join(f"{k} {v:,}" for k, v in sorted(self.by_class.items())))
        if self.points_from_shapes:
            lines.append(f"{self.points_from_shapes:,} lines/polygons stored at a point inside them")
        if len(self.outside_grids):
            lines.append(f"{len(self.outside_grids):,} component(s) lie in no grid (stored with an empty grid_code): "
                         + ", ".join(self.outside_grids["code"].astype(str).head(10))
                         + (" ..." if len(self.outside_grids) > 10 else ""))
        if len(self.rejected):
            for reason, group in self.rejected.groupby("reason", sort=False):
                lines.append(f"rejected, {reason}: {_rows_text(group['row'])}")
        return lines

    def _repr_html_(self) -> str:
        return "<b>component import</b><ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in self.summary_lines()) + "</ul>"


def _rows_text(rows: pd.Series) -> str:
    positions = np.asarray(rows, dtype=int) - 1
    return rows_where(positions, pd.RangeIndex(int(positions.max()) + 1 if len(positions) else 0))


def _find_column(columns, aliases) -> str | None:
    lower = {str(c).strip().lower(): c for c in columns}
    for alias in aliases:
        if alias.lower() in lower:
            return lower[alias.lower()]
    return None


def _normalise_class(values: pd.Series) -> pd.Series:
    """Class codes as 4-digit text: 118 / 118.0 / '118' -> '0118'; anything else left as typed."""
    text = values.astype(object).where(values.notna(), "").astype(str).str.strip()
    text = text.str.replace(r"^(\d+)\.0+$", r"\1", regex=True)
    short = text.str.fullmatch(r"\d{3}")
    return text.where(~short, text.str.zfill(4))


def prepare_components(
    features: gpd.GeoDataFrame,
    grids: gpd.GeoDataFrame | None,
    classes: pd.DataFrame,
    *,
    class_col: str | None = None,
    class_code: str | None = None,
    key_col: str | None = None,
    key_prefix: str | None = None,
    grid_col: str = "grid_code",
    defaults: dict | None = None,
    source: str = "data",
    margin_m: float | None = None,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame, int]:
    """Check every row, find each component's grid and source key.

    Parameters
    ----------
    features : GeoDataFrame
        One row per component, any CRS (points; lines/polygons are stored at a point inside).
    grids : GeoDataFrame or None
        Grid polygons with a ``grid_col`` column (e.g. the ``grids`` layer of ``gridtools partition``).
    classes : DataFrame
        Class table (:func:`~gridtools.components.classes.load_classes`).
    class_col, class_code : str, optional
        Column holding the 4-digit class code, or one class code for every row.  Default: a
        column named class_code / class / subclass.
    key_col : str, optional
        Column with a stable external id.  Default: a column named source_key / external_id /
        objid; without one, the key is a hash of class, position (1e-7 degree) and name.
    key_prefix : str, optional
        Put before external ids (default ``source + ":"``) so ids from different files differ.
    defaults : dict, optional
        Values for fields the input lacks or leaves empty, e.g. ``{"maintainer": "路灯所"}``.
    source : str
        Name of the input for messages and the register.
    margin_m : float, optional
        Rows farther than this from the grids' bounding box are refused
        (default ``settings.components_district_margin_m``).

    Returns
    -------
    (prepared, problems, n_shapes)
        ``prepared``: EPSG:4326 points with ``row`` (1-based), ``class_code``, ``source_key``,
        ``grid_code`` and the fields; ``problems``: ``row``, ``reason``, ``value`` of refused rows;
        ``n_shapes``: rows that were lines/polygons.

    Examples
    --------
    >>> import shapely, geopandas as gpd
    >>> from gridtools.components import load_classes
    >>> grids = gpd.GeoDataFrame({"grid_code": ["A"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4326)
    >>> pts = gpd.GeoDataFrame({"class": ["0118", "9999"]}, geometry=[shapely.Point(.5, .5)] * 2, crs=4326)
    >>> ok, problems, _ = prepare_components(pts, grids, load_classes())
    >>> ok["grid_code"].tolist(), problems["reason"].tolist()
    (['A'], ['unknown class code (not in the class table)'])
    """
    if features.crs is None:
        raise CRSError(f"{source} has no CRS; read it with crs='EPSG:4326' (or the CRS it is in)")
    margin_m = settings.components_district_margin_m if margin_m is None else margin_m
    n = len(features)
    frame = features.reset_index(drop=True)
    reason = np.full(n, None, dtype=object)
    value = np.full(n, None, dtype=object)

    def flag(mask, why, shown=None):
        mask = np.asarray(mask, dtype=bool) & pd.isna(reason)
        reason[mask] = why
        if shown is not None and mask.any():
            value[mask] = shown(mask) if callable(shown) else np.asarray(shown, dtype=object)[mask]

    # -- empty / malformed rows
    geoms = frame.geometry.to_numpy()
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    attrs = frame.drop(columns=frame.geometry.name)
    blank = attrs.astype(object).isna() | attrs.astype(str).apply(lambda s: s.str.strip() == "")
    flag(missing & blank.all(axis=1).to_numpy(), "empty row")
    flag(missing, "no geometry / coordinates")
    xy = np.full((n, 2), np.nan)
    is_shape = np.zeros(n, dtype=bool)
    ok = ~missing
    if ok.any():
        pts = geoms[ok]
        kinds = shapely.get_type_id(pts)
        is_shape[np.flatnonzero(ok)] = kinds != 0
        # lines and polygons become a point inside them (the register stores one location)
        pts = np.where(kinds == 0, pts, shapely.point_on_surface(pts))
        xy[ok] = shapely.get_coordinates(pts)
    flag(~np.isfinite(xy).all(axis=1) & ok, "malformed coordinates (not numbers)")

    def xy_text(mask):
        return _xy_text(xy[mask])

    # -- degree ranges, per row (a whole-file check cannot say which rows are wrong)
    crs = frame.crs
    if crs.is_geographic:
        x, y = xy[:, 0], xy[:, 1]
        bad_range = (np.abs(x) > 180) | (np.abs(y) > 90)
        swapped = bad_range & (np.abs(y) <= 180) & (np.abs(x) <= 90)
        flag(swapped, "longitude/latitude look swapped (latitude beyond ±90)", xy_text)
        flag(bad_range, "coordinates are not degrees (check --crs)", xy_text)
    good = pd.isna(reason) & np.isfinite(xy).all(axis=1)
    if good.any():
        probe = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[good, 0], xy[good, 1]), crs=crs)
        validate.check_coordinates(probe, source)

    # -- class codes
    if class_code is not None:
        codes = pd.Series([str(class_code)] * n)
    else:
        column = class_col or _find_column(frame.columns, CLASS_ALIASES)
        if column is None:
            raise InputError(f"{source}: no class code column (looked for {', '.join(CLASS_ALIASES)}); its columns "
                             f"are {', '.join(map(str, attrs.columns))}. Name it with class_col='COLUMN', or give one "
                             "class for every row with class_code='CODE' (e.g. class_code='0118' for street lamps).")
        validate.require_columns(frame, {column: "class_col"}, source)
        codes = _normalise_class(frame[column])
    known = set(classes["class_code"])
    flag((codes == "").to_numpy(), "no class code")
    flag(~codes.isin(known).to_numpy(), "unknown class code (not in the class table)", codes.to_numpy())

    # -- place in grids
    wgs = gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=crs)
    grid_codes = np.full(n, "", dtype=object)
    if grids is not None:
        validate.require_columns(grids, {grid_col: "grid code column"}, grids.attrs.get("source", "grids"))
        metric_grids = to_metric(grids)
        placed = pd.isna(reason) & np.isfinite(xy).all(axis=1)
        pts_metric = wgs[placed].to_crs(metric_grids.crs).to_numpy()
        box = shapely.box(*metric_grids.total_bounds)
        far = np.zeros(n, dtype=bool)
        far[placed] = shapely.distance(pts_metric, box) > margin_m
        if crs.is_geographic and far.any():
            idx = np.flatnonzero(far & (np.abs(xy[:, 0]) <= 90))  # only points whose swap is a valid lon/lat
            flipped = gpd.GeoSeries(gpd.points_from_xy(xy[idx, 1], xy[idx, 0]), crs=crs)
            try:
                back = shapely.distance(flipped.to_crs(metric_grids.crs).to_numpy(), box) <= margin_m
            except Exception:  # pragma: no cover - projection failure means "not swapped"
                back = np.zeros(len(idx), dtype=bool)
            swapped = np.zeros(n, dtype=bool)
            swapped[idx[back]] = True
            flag(swapped, "longitude/latitude look swapped (swapping them puts the point in the district)",
                 xy_text)
        flag(far, f"outside the district (more than {margin_m:,.0f} m from the grids)", xy_text)
        placed = pd.isna(reason) & np.isfinite(xy).all(axis=1)
        grid_codes[np.flatnonzero(placed)] = place_in_grids(wgs[placed], grids, grid_col)
    elif grid_col in frame.columns:
        grid_codes = frame[grid_col].astype(object).where(frame[grid_col].notna(), "").astype(str).to_numpy()

    # -- fields
    out = {"row": np.arange(1, n + 1), "class_code": codes.to_numpy(), "grid_code": grid_codes}
    defaults = dict(defaults or {})
    for name, aliases in FIELD_ALIASES.items():
        column = _find_column(frame.columns, aliases)
        values = (frame[column].astype(object).where(frame[column].notna(), None) if column is not None
                  else pd.Series([None] * n, dtype=object))
        if column is not None:
            values = values.map(lambda v: None if v is None or str(v).strip() == "" else str(v).strip())
        if defaults.get(name) is not None:
            values = values.where(values.notna(), str(defaults[name]))
        out[name] = values.to_numpy()

    # -- source keys
    key_column = key_col or _find_column(frame.columns, KEY_ALIASES)
    if key_col is not None:
        validate.require_columns(frame, {key_col: "key_col"}, source)
    wgs84 = wgs.to_crs(4326)
    lon, lat = wgs84.x.to_numpy(), wgs84.y.to_numpy()
    if key_column is not None:
        raw = frame[key_column].astype(object)
        empty_key = raw.isna() | (raw.astype(str).str.strip() == "")
        flag(empty_key.to_numpy(), f"empty external id in column {key_column!r}")
        prefix = f"{source}:" if key_prefix is None else key_prefix
        keys = (prefix + raw.astype(str).str.strip().str.replace(r"\.0$", "", regex=True)).to_numpy()
    else:
        keys = np.array([
            "sha1:" + hashlib.sha1(f"{c}|{a:.7f}|{b:.7f}|{nm or ''}".encode()).hexdigest()[:24]
            for c, a, b, nm in zip(out["class_code"], lon, lat, out["name"])], dtype=object)
    live = pd.isna(reason)
    dup = pd.Series(keys).where(live).duplicated(keep="first").to_numpy() & live
    if dup.any():
        first_row = pd.Series(np.arange(1, n + 1)).groupby(pd.Series(keys)).transform("first").to_numpy()
        flag(dup, "repeats an earlier row (same external id, or same class, position and name)",
             np.array([f"same as row {r}" for r in first_row], dtype=object))

    live = pd.isna(reason)
    prepared = gpd.GeoDataFrame({**{k: np.asarray(v, dtype=object)[live] for k, v in out.items()},
                                 "source_key": keys[live]},
                                geometry=gpd.points_from_xy(lon[live], lat[live]), crs=4326)
    prepared["row"] = prepared["row"].astype(int)
    problems = pd.DataFrame({"row": np.arange(1, n + 1)[~live], "reason": reason[~live], "value": value[~live]})
    return prepared, problems, int(is_shape[live].sum())


def place_in_grids(points: gpd.GeoSeries | gpd.GeoDataFrame, grids: gpd.GeoDataFrame,
                   grid_col: str = "grid_code") -> np.ndarray:
    """Grid code of the grid holding each point (``""`` for points in no grid).

    The test runs in the grids' own CRS, where their edges are straight lines (a reprojected
    outline would move points near an edge into the neighbouring grid).  A point on an edge shared
    by two grids belongs to the first of them in the layer.

    Examples
    --------
    >>> import shapely, geopandas as gpd
    >>> grids = gpd.GeoDataFrame({"grid_code": ["A", "B"]}, geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)],
    ...                          crs=4326)
    >>> pts = gpd.GeoSeries([shapely.Point(.5, .5), shapely.Point(1, .5), shapely.Point(5, 5)], crs=4326)
    >>> place_in_grids(pts, grids).tolist()
    ['A', 'A', '']
    """
    validate.require_columns(grids, {grid_col: "grid code column"}, grids.attrs.get("source", "grids"))
    geoms = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
    pts = geoms.to_crs(grids.crs).to_numpy()
    tree = shapely.STRtree(grids.geometry.to_numpy())
    hit_pt, hit_grid = tree.query(pts, predicate="intersects")
    order = np.lexsort((hit_grid, hit_pt))
    first = np.unique(hit_pt[order], return_index=True)[1]
    inside = np.full(len(pts), "", dtype=object)
    inside[hit_pt[order][first]] = grids[grid_col].astype(str).to_numpy()[hit_grid[order][first]]
    return inside


def _xy_text(xy: np.ndarray) -> np.ndarray:
    return np.array([f"x={a:.6g}, y={b:.6g}" for a, b in xy], dtype=object)


def problems_message(problems: pd.DataFrame, source: str) -> str:
    """One message naming every refused row, grouped by reason.

    Examples
    --------
    >>> p = pd.DataFrame({"row": [2, 5], "reason": ["no class code"] * 2, "value": [None, None]})
    >>> print(problems_message(p, "lamps.csv"))  # doctest: +ELLIPSIS
    lamps.csv: 2 row(s) cannot be imported; nothing was stored. no class code: rows 2, 5 (counting from 1). ...
    """
    parts = []
    for reason, group in problems.groupby("reason", sort=False):
        shown = [str(v) for v in group["value"].dropna().head(3)]
        parts.append(f"{reason}: {_rows_text(group['row'])}" + (f" (e.g. {'; '.join(shown)})" if shown else ""))
    return (f"{source}: {len(problems):,} row(s) cannot be imported; nothing was stored. " + ". ".join(parts)
            + ". Fix those rows, or import the others and list the rest with on_error='skip'.")


def import_components(
    store,
    features: gpd.GeoDataFrame,
    grids: gpd.GeoDataFrame | None = None,
    *,
    admin_code: str,
    source: str = "data",
    on_error: str = "raise",
    batch_size: int | None = None,
    progress=None,
    **options,
) -> ImportResult:
    """Import components into a register: check, place in grids, code, and write in whole batches.

    Parameters
    ----------
    store : ComponentStore
        From :func:`~gridtools.components.store.open_store`.
    features, grids
        See :func:`prepare_components`.
    admin_code : str
        6-digit county code that starts every new code.
    source : str
        Input name (file name); external ids are prefixed with it.
    on_error : {"raise", "skip"}
        ``"raise"``: any bad row stops the import before anything is written, naming every bad
        row.  ``"skip"``: the good rows are imported and the bad ones listed in ``rejected``.
    batch_size : int, optional
        Rows per transaction (default ``settings.components_batch_size``).
    progress : callable, optional
        ``progress(stage, done, total)``.
    **options
        Passed to :func:`prepare_components` (class_col, class_code, key_col, key_prefix,
        grid_col, defaults, margin_m).

    Returns
    -------
    ImportResult

    Examples
    --------
    >>> result = import_components(store, lamps, grids, admin_code="320508", class_code="0118")  # doctest: +SKIP
    """
    from gridtools.components.codes import check_admin_code

    admin = check_admin_code(admin_code)
    if on_error not in ("raise", "skip"):
        raise InputError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    prepared, problems, n_shapes = prepare_components(features, grids, store.classes, source=source, **options)
    if len(problems) and on_error == "raise":
        raise InputError(problems_message(problems, source))
    size = int(batch_size or settings.components_batch_size)
    inserted, batches = [], 0
    total = len(prepared)
    for start in range(0, total, size):
        batch = prepared.iloc[start:start + size]
        codes = store.insert_batch(batch, admin_code=admin, source=source)
        if len(codes):
            batches += 1
            inserted.append(codes.merge(batch[["source_key", "row", "grid_code", "class_code", "geometry"]],
                                        on="source_key", how="left"))
        if progress is not None:
            progress("importing components", min(start + size, total), total)
    done = (pd.concat(inserted, ignore_index=True) if inserted
            else pd.DataFrame({"source_key": [], "code": [], "row": [], "grid_code": [], "class_code": [],
                               "geometry": []}))
    outside = done[done["grid_code"] == ""] if grids is not None else done.iloc[:0]
    outside_table = pd.DataFrame({"row": outside["row"].astype(int).to_numpy(), "code": outside["code"].to_numpy(),
                                  "lon": [g.x for g in outside["geometry"]], "lat": [g.y for g in outside["geometry"]]})
    return ImportResult(
        source=source,
        inserted=done[["row", "source_key", "code"]].astype({"row": int}) if len(done) else done[["row", "source_key", "code"]],
        skipped_existing=total - len(done),
        rejected=problems,
        outside_grids=outside_table,
        points_from_shapes=n_shapes,
        batches=batches,
        by_class={k: int(v) for k, v in done["class_code"].value_counts().items()},
    )

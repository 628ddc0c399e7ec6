"""Input checks: one place that decides whether data and parameters can be used.

Every check raises :class:`~gridtools.errors.InputError` (or a subclass) with a message that
names the file, the column, the rows (counting from 1) and what to do, and never drops data
silently.  The CLI prints that message as one line; it never shows a traceback.

Data checks
    :func:`require_columns`, :func:`numeric_column`, :func:`check_coordinates`,
    :func:`check_geometries`.
Parameter checks (in the manner of scikit-learn's ``_param_validation``)
    :func:`validate_params` declares the constraints of a public function's parameters once,
    with :class:`Interval`, :class:`Options` and :class:`Instance`; a wrong value raises
    :class:`~gridtools.errors.ParameterError` in one message shape::

        the 'cell' parameter of hotspots.prepare must be a positive number; got -5

Messages name Python parameters (``crs='EPSG:4326'``, ``lon=...``, "the 'cell' parameter");
the CLI rewrites them to its own flags.

Examples
--------
>>> import pandas as pd
>>> from gridtools import validate
>>> validate.numeric_column(pd.DataFrame({"pop": ["12", 3]}), "pop").tolist()
[12.0, 3.0]
"""

from __future__ import annotations

import difflib
import functools
import inspect
import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridtools.crs import in_china, horizontal_unit, label
from gridtools.errors import CRSError, InputError, ParameterError, rows_where

__all__ = [
    "require_columns",
    "numeric_column",
    "check_coordinates",
    "check_geometries",
    "show_value",
    "require_datum",
    "unknown_keys",
    "parse_numbers",
    "Interval",
    "Options",
    "Instance",
    "check_param",
    "validate_params",
]


def _source_name(obj, source: str) -> str:
    """The file a frame came from, when the caller did not name it."""
    return obj.attrs.get("source", source) if source == "data" else source



def check_coordinates(gdf: gpd.GeoDataFrame, source: str = "data") -> None:
    """Refuse coordinates whose size does not fit the units of their CRS.

    Degrees lie within [-180, 180] x [-90, 90]; projected metres or feet almost never fit in that
    box for real data.  Empty and missing geometries are ignored; data without a CRS is not
    checked.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
    source : str
        Name used in messages (defaults to ``gdf.attrs["source"]``).

    Raises
    ------
    CRSError
        Projected-looking numbers under a geographic CRS, or degree-looking numbers under a
        projected CRS, or longitude/latitude that look swapped.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> pts = gpd.GeoDataFrame(geometry=[shapely.Point(300000, 4600000)], crs=4326)
    >>> check_coordinates(pts)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    gridtools.errors.CRSError: data: coordinates look like projected metres or feet ...
    """
    crs = gdf.crs
    if crs is None or len(gdf) == 0:
        return
    minx, miny, maxx, maxy = gdf.total_bounds
    if not np.isfinite([minx, miny, maxx, maxy]).all():
        return  # only empty geometries
    name = _source_name(gdf, source)
    extent = f"x from {minx:,.6g} to {maxx:,.6g}, y from {miny:,.6g} to {maxy:,.6g}"
    crs_label = label(crs)
    eps = 1e-6  # rounding in exported files can push 180 to 180.0000001

    def fits(x0, x1, y0, y1):
        return -180 - eps <= x0 and x1 <= 180 + eps and -90 - eps <= y0 and y1 <= 90 + eps

    if crs.is_geographic and not fits(minx, maxx, miny, maxy):
        if fits(miny, maxy, minx, maxx):
            raise CRSError(
                f"{name}: longitude and latitude look swapped ({extent}; latitude must lie in "
                "-90..90). Check which column is which (lon=..., lat=...)."
            )
        raise CRSError(
            f"{name}: coordinates look like projected metres or feet ({extent}), but the CRS "
            f"{crs_label} says they are degrees. Pass the CRS the numbers are really in, e.g. "
            "crs='EPSG:2913'; if the file itself declares this CRS, its "
            "CRS metadata is wrong: fix the file first (e.g. ogr2ogr -a_srs EPSG:nnnn)."
        )
    # The box also bounds the extent to at most 360 x 180 units: for projected units that is a
    # few hundred metres or feet next to the false origin, where real data practically never is.
    if crs.is_projected and fits(minx, maxx, miny, maxy):
        unit, _ = horizontal_unit(crs)
        raise CRSError(
            f"{name}: coordinates look like degrees ({extent}) but CRS {crs_label} is in {unit}. "
            "If they are longitude/latitude, the CRS is e.g. crs='EPSG:4326'; if the file itself declares this CRS, fix the file first."
        )


def check_geometries(
    gdf: gpd.GeoDataFrame, source: str = "data", *, repair: bool = True
) -> tuple[gpd.GeoDataFrame, dict]:
    """Refuse missing geometries and repair (or refuse) invalid ones.

    Nothing is dropped silently: null or empty geometries are an error.  Invalid geometries are
    repaired with :func:`shapely.make_valid`; in a polygon layer only the polygonal part of the
    repair is kept (a self-touching ring can yield stray lines), and a row left with no area is
    an error.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
    source : str
        Name used in messages (defaults to ``gdf.attrs["source"]``).
    repair : bool, default True
        Repair invalid geometries; when False, raise listing them instead.

    Returns
    -------
    (geopandas.GeoDataFrame, dict)
        A copy with repaired geometries, and ``{"repaired": n, "rows": [1-based row numbers],
        "index": [index labels], "reasons": [shapely.is_valid_reason before repair]}``.

    Raises
    ------
    InputError
        Null/empty geometries, invalid ones when ``repair=False``, or polygons with no area.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> bowtie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    >>> fixed, report = check_geometries(gpd.GeoDataFrame(geometry=[bowtie], crs=3857))
    >>> report["repaired"], fixed.geometry.iloc[0].geom_type
    (1, 'MultiPolygon')
    """
    name = _source_name(gdf, source)
    geoms = gdf.geometry.to_numpy()
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        raise InputError(
            f"{name}: {int(missing.sum())} features have no geometry (null or empty): "
            f"{rows_where(np.flatnonzero(missing), gdf.index)}. Remove those rows or fix their "
            "geometry; gridtools does not drop data silently."
        )
    invalid = ~shapely.is_valid(geoms)
    report = {"repaired": 0, "rows": [], "index": [], "reasons": []}
    if not invalid.any():
        return gdf.copy(), report
    positions = np.flatnonzero(invalid)
    reasons = shapely.is_valid_reason(geoms[invalid]).tolist()
    if not repair:
        first = "; ".join(
            f"row {p + 1}: {r}" for p, r in zip(positions[:5], reasons[:5], strict=True)
        )
        raise InputError(
            f"{name}: {len(positions)} invalid geometries, {rows_where(positions, gdf.index)} "
            f"({first}). Repair them (repair=True), or fix them in a GIS."
        )
    fixed = shapely.make_valid(geoms[invalid])
    if np.isin(shapely.get_type_id(geoms), [3, 6]).all():  # Polygon, MultiPolygon
        fixed = _polygonal_part(fixed)
        lost = shapely.is_missing(fixed)
        if lost.any():
            raise InputError(
                f"{name}: {int(lost.sum())} polygons have no area even after repair: "
                f"{rows_where(positions[lost], gdf.index)}. Remove those rows or redraw them."
            )
    geoms = geoms.copy()
    geoms[invalid] = fixed
    out = gdf.copy()
    out[gdf.geometry.name] = gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs)
    report.update(
        repaired=len(positions),
        rows=(positions + 1).tolist(),
        index=gdf.index[positions].tolist(),
        reasons=reasons,
    )
    return out, report


def _polygonal_part(geoms: np.ndarray) -> np.ndarray:
    """Polygonal part of each geometry (None where there is none), vectorised."""
    parts, owner = shapely.get_parts(geoms, return_index=True)
    # make_valid can return a GeometryCollection holding a MultiPolygon: flatten a second level.
    parts, inner = shapely.get_parts(parts, return_index=True)
    owner = owner[inner]
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)
    out = np.full(len(geoms), None, dtype=object)
    if keep.any():
        shapely.multipolygons(parts[keep], indices=owner[keep], out=out)
    # Single-part results go back to plain Polygons so repaired rows look like their neighbours.
    single = shapely.get_num_geometries(out) == 1
    out[single] = shapely.get_geometry(out[single], 0)
    return out


def require_datum(lon, lat, source: str = "data") -> None:
    """Refuse longitude/latitude in China read without a declared datum.

    Inside China the numbers alone do not say their datum: phones and web maps give GCJ-02
    (AMap/Gaode, Tencent) or BD-09 (Baidu), GPS receivers and OpenStreetMap WGS-84, and the
    datums are 100-700 m (BD-09: about 1 km) apart - enough to put a point in the wrong grid.
    So where a format would imply WGS-84 (CSV longitude/latitude, GeoJSON without a ``crs``
    member, a table without ``crs=``), points in the China box need the datum said.

    Parameters
    ----------
    lon, lat : array-like
        Degrees (NaN allowed).
    source : str
        Name used in messages.

    Raises
    ------
    CRSError
        When any point lies in :data:`gridtools.crs.CHINA_BBOX`.

    Examples
    --------
    >>> require_datum([2.35], [48.85], "paris.csv")        # Paris: WGS-84 is the only reading
    >>> require_datum([121.47], [31.23], "shanghai.csv")   # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    gridtools.errors.CRSError: shanghai.csv: 1 of 1 locations lie in China ...
    """
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    present = np.isfinite(lon) & np.isfinite(lat)
    inside = present & in_china(lon, lat)
    if inside.any():
        raise CRSError(
            f"{source}: {int(inside.sum()):,} of {int(present.sum()):,} locations lie in China, where "
            "longitude/latitude carry no datum in the numbers (phones and web maps give GCJ-02 or "
            "BD-09, GPS and OpenStreetMap WGS-84; they are 100-700 m apart). Say which with "
            "crs='wgs84', crs='gcj02' (AMap/Gaode, Tencent) or crs='bd09' (Baidu)."
        )


def require_columns(df: pd.DataFrame, columns, source: str = "data") -> None:
    """Raise if *df* lacks any of *columns*, listing the columns it has.

    Parameters
    ----------
    df : pandas.DataFrame
    columns : str, list of str, or mapping of column -> parameter name
        With a mapping, the message tells which parameter names the column
        (``{"TOTPOP": "pop"}`` -> "Pass the right name with pop=...").
    source : str
        Name used in messages (defaults to ``df.attrs["source"]``).

    Raises
    ------
    InputError
        ``"blocks.gpkg has no column 'pop'; its columns are: GEOID, TOTPOP. Did you mean
        'TOTPOP'? Pass the right name with pop=..."``

    Examples
    --------
    >>> import pandas as pd
    >>> require_columns(pd.DataFrame({"pop": [1]}), {"pop": "pop"})
    """
    if isinstance(columns, str):
        columns = [columns]
    flags = dict(columns) if isinstance(columns, Mapping) else dict.fromkeys(columns)
    missing = [c for c in flags if c not in df.columns]
    if not missing:
        return
    geometry = (
        getattr(df, "active_geometry_name", None) if isinstance(df, gpd.GeoDataFrame) else None
    )
    present = [str(c) for c in df.columns if c != geometry]
    what = (
        f"column {missing[0]!r}"
        if len(missing) == 1
        else "columns " + ", ".join(map(repr, missing))
    )
    message = f"{_source_name(df, source)} has no {what}; its columns are: {', '.join(present) or 'none'}."
    hints = [_closest(str(c), present) for c in missing]
    hints = [h for h in hints if h]
    if hints:
        message += " Did you mean " + " or ".join(map(repr, hints)) + "?"
    # a flag given as such ("--pop") is named as given; a parameter name as pop=...
    used = [f if str(f).startswith("-") else f"{f}=..." for c, f in flags.items() if c in missing and f]
    if used:
        noun = "name" if len(missing) == 1 else "names"
        joined = ", ".join(used)
        message += f" Pass the right {noun} with {joined}" + ("" if joined.endswith("...") else ".")
    else:
        message += " Pass the right column name."
    raise InputError(message)


def unknown_keys(given, known, where: str) -> None:
    """Refuse keys of a mapping (a park entry, a settings file) that are not in *known*,
    naming each with the closest known key (a typo such as ``capcity`` -> ``capacity``).

    Examples
    --------
    >>> unknown_keys({"id": 1, "capcity": 2}, ["id", "capacity"], "park.yaml: docks entry 1")
    Traceback (most recent call last):
    ...
    gridtools.errors.InputError: park.yaml: docks entry 1: unknown key 'capcity' (did you mean 'capacity'?); known keys: capacity, id
    """
    known = sorted(map(str, known))
    unknown = [str(k) for k in given if str(k) not in known]
    if not unknown:
        return
    named = []
    for key in unknown:
        hint = _closest(key, known)
        named.append(f"{key!r}" + (f" (did you mean {hint!r}?)" if hint else ""))
    noun = "key" if len(unknown) == 1 else "keys"
    raise InputError(f"{where}: unknown {noun} {', '.join(named)}; known keys: {', '.join(known)}")


def _closest(column: str, present: list[str]) -> str | None:
    by_case = [p for p in present if p.lower() == column.lower()]
    if by_case:
        return by_case[0]
    close = difflib.get_close_matches(column, present, n=1, cutoff=0.6)
    if close:
        return close[0]
    # abbreviations: 'pop' for 'population', 'TOTPOP' for 'totpop2010'
    low = column.lower()
    prefixed = [
        p
        for p in present
        if len(p) >= 3 and (low.startswith(p.lower()) or p.lower().startswith(low))
    ]
    return prefixed[0] if prefixed else None


def numeric_column(
    df: pd.DataFrame,
    column: str,
    source: str = "data",
    *,
    nonnegative: bool = True,
    allow_missing: bool = False,
) -> pd.Series:
    """Return *column* as float, refusing non-numeric, missing and (by default) negative values.

    Parameters
    ----------
    df : pandas.DataFrame
    column : str
    source : str
        Name used in messages (defaults to ``df.attrs["source"]``).
    nonnegative : bool, default True
        Refuse values below zero (populations, counts, areas).
    allow_missing : bool, default False
        Keep missing (empty) values as NaN instead of refusing them.

    Returns
    -------
    pandas.Series
        float64, same index as *df*, named *column*.

    Raises
    ------
    InputError
        Listing the offending rows (counting from 1) and their values.

    Examples
    --------
    >>> import pandas as pd
    >>> numeric_column(pd.DataFrame({"pop": ["12", 3]}), "pop").tolist()
    [12.0, 3.0]
    """
    require_columns(df, [column], source)
    raw = df[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    blank = raw.isna().to_numpy() | (raw.astype(str).str.strip() == "").to_numpy()
    problems = []
    nonnumeric = ~np.isfinite(values) & ~blank
    if nonnumeric.any():
        problems.append(("non-numeric values", nonnumeric))
    if blank.any() and not allow_missing:
        problems.append(("missing values", blank))
    if nonnegative and (values < 0).any():
        problems.append(("negative values", values < 0))
    if problems:
        details = "; ".join(f"{what} in {_rows_with_values(raw, mask)}" for what, mask in problems)
        rule = "a number >= 0" if nonnegative else "a number"
        raise InputError(
            f"{_source_name(df, source)}: column {column!r} must hold {rule} in every row: {details}. "
            "Fix or remove those rows (rows count from 1; write numbers without thousands "
            "separators), or choose another column."
        )
    return pd.Series(values, index=df.index, name=column)


def _rows_with_values(raw: pd.Series, mask: np.ndarray, limit: int = 10) -> str:
    """``'rows 3 ('abc'), 8 ('-2') (and 4 more)'``: row numbers count from 1."""
    positions = np.flatnonzero(mask)
    shown = ", ".join(f"{p + 1} ({show_value(raw.iloc[p])})" for p in positions[:limit])
    more = f" (and {len(positions) - limit} more)" if len(positions) > limit else ""
    return f"{'row' if len(positions) == 1 else 'rows'} {shown}{more}"


def parse_numbers(values, *, copy: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Numbers of a column that may hold text, and which rows are missing (empty or blank).

    Parameters
    ----------
    values : array-like or pandas.Series
    copy : bool, default True
        False: a float64 column comes back as it is, without a copy (read-only when it is a
        view of the column's data, as pandas gives it).

    Returns
    -------
    (numpy.ndarray of float, numpy.ndarray of bool)
        NaN where a value is missing or not a number; True where it is missing.

    Examples
    --------
    >>> x, missing = parse_numbers(["1.5", " ", "abc"])
    >>> x.tolist()[0], missing.tolist()
    (1.5, [False, True, False])
    """
    series = pd.Series(values) if not isinstance(values, pd.Series) else values
    # numpy float and integer columns need no parsing (pandas' nullable Int64 / Float64 do)
    if isinstance(series.dtype, np.dtype) and series.dtype.kind == "f":
        numbers = series.to_numpy(dtype=float, copy=copy)
        return numbers, np.isnan(numbers)
    if isinstance(series.dtype, np.dtype) and series.dtype.kind in "iu":
        return series.to_numpy(dtype=float), np.zeros(len(series), dtype=bool)
    if series.dtype == object or pd.api.types.is_string_dtype(series):
        fast = _arrow_numbers(series)
        if fast is not None:
            return fast
        text = series.astype("string").str.strip()
        missing = (text.isna() | (text == "")).to_numpy(dtype=bool)
    else:
        missing = series.isna().to_numpy(dtype=bool)
    numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return numbers, missing


def _arrow_numbers(series: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`parse_numbers` of a text column by Arrow's parser (10x pandas' on millions of
    rows); None when a value is not plain decimal text, so pandas decides what it is."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        text = pc.utf8_trim_whitespace(pa.array(series, type=pa.string(), from_pandas=True))
        missing = pc.fill_null(pc.equal(text, ""), True)
        numbers = pc.cast(pc.if_else(missing, pa.scalar(None, pa.string()), text), pa.float64())
    except (pa.ArrowException, TypeError, ValueError):
        return None
    return numbers.to_numpy(zero_copy_only=False), missing.to_numpy(zero_copy_only=False)


def show_value(value) -> str:
    """A cell value for a message: ``'abc'``, ``-3.0`` or ``empty``.

    Examples
    --------
    >>> show_value("abc"), show_value(float("nan"))
    ("'abc'", 'empty')
    """
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "empty"
    return repr(value.item() if isinstance(value, np.generic) else value)


# --------------------------------------------------------------------------------------------
# Parameter checks: declared once per public function, one message shape
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A number within bounds: ``Interval(float, 0, None, closed="neither")`` is "a positive number".

    Parameters
    ----------
    kind : {int, float}
        ``int`` accepts integers only (``True``/``False`` are not numbers here); ``float`` any
        real number.
    left, right : float or None
        Bounds; None is unbounded.
    closed : {"both", "left", "right", "neither"}, default "both"
        Which bounds are included.

    Examples
    --------
    >>> Interval(float, 0, None, closed="neither").describe()
    'a positive number'
    >>> Interval(int, 1, None).describe(), Interval(float, 0, 1).describe()
    ('an integer >= 1', 'a number in [0, 1]')
    """

    kind: type
    left: float | None
    right: float | None
    closed: str = "both"

    def accepts(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        if self.kind is int and not isinstance(value, numbers.Integral):
            return False
        if not np.isfinite(float(value)):
            return False
        left_ok = self.left is None or (
            value >= self.left if self.closed in ("both", "left") else value > self.left
        )
        right_ok = self.right is None or (
            value <= self.right if self.closed in ("both", "right") else value < self.right
        )
        return left_ok and right_ok

    def describe(self) -> str:
        noun = "an integer" if self.kind is int else "a number"
        low = self.closed in ("both", "left")
        high = self.closed in ("both", "right")
        if self.left == 0 and self.right is None and not low:
            return "a positive " + ("integer" if self.kind is int else "number")
        if self.left is not None and self.right is None:
            return f"{noun} {'>=' if low else '>'} {self.left:g}"
        if self.left is None and self.right is not None:
            return f"{noun} {'<=' if high else '<'} {self.right:g}"
        if self.left is None:
            return noun
        return f"{noun} in {'[' if low else '('}{self.left:g}, {self.right:g}{']' if high else ')'}"


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values (compared with ``==``).

    Examples
    --------
    >>> Options(("raise", "drop")).describe()
    "one of 'raise', 'drop'"
    """

    values: tuple

    def accepts(self, value) -> bool:
        try:
            return any(value == v and type(value) is type(v) for v in self.values)
        except (TypeError, ValueError):
            return False

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


@dataclass(frozen=True)
class Instance:
    """An instance of one of *types*, described in words for messages.

    Examples
    --------
    >>> Instance((str,), "a column name").describe()
    'a column name'
    """

    types: tuple
    description: str

    def accepts(self, value) -> bool:
        return isinstance(value, self.types)

    def describe(self) -> str:
        return self.description


def check_param(name: str, value, constraints, caller: str) -> None:
    """Raise :class:`~gridtools.errors.ParameterError` unless *value* meets one of *constraints*.

    Parameters
    ----------
    name : str
        The parameter's Python name.
    value : object
    constraints : list
        :class:`Interval`, :class:`Options`, :class:`Instance`, or None (None is allowed).
    caller : str
        The public function, e.g. ``"hotspots.prepare"``.

    Examples
    --------
    >>> check_param("cell", -5, [Interval(float, 0, None, closed="neither")], "hotspots.prepare")
    Traceback (most recent call last):
    gridtools.errors.ParameterError: the 'cell' parameter of hotspots.prepare must be a positive number; got -5
    """
    if any(c is None and value is None or c is not None and c.accepts(value) for c in constraints):
        return
    words = [c.describe() for c in constraints if c is not None]
    if None in constraints:
        words.append("None")
    shown = value.item() if isinstance(value, np.generic) else value
    raise ParameterError(
        f"the {name!r} parameter of {caller} must be {' or '.join(words)}; got {shown!r}",
        parameter=name,
    )


def validate_params(constraints: Mapping[str, list], caller: str | None = None):
    """Decorator: check the named parameters of a function against their constraints on each call.

    Parameters
    ----------
    constraints : mapping of parameter name -> list of constraints
        See :func:`check_param`.  Parameters not named are not checked.
    caller : str, optional
        Name used in messages (default: ``module.function`` without the ``gridtools.`` prefix
        and without private module parts).

    Examples
    --------
    >>> @validate_params({"share": [Interval(float, 0, 1, closed="right")]}, caller="demo.f")
    ... def f(share=0.05):
    ...     return share
    >>> f(0.1)
    0.1
    >>> f(share=0)
    Traceback (most recent call last):
    gridtools.errors.ParameterError: the 'share' parameter of demo.f must be a number in (0, 1]; got 0
    """

    def decorate(func):
        signature = inspect.signature(func)
        unknown = set(constraints) - set(signature.parameters)
        if unknown:  # a typo in a declaration must fail at import, not pass silently
            raise TypeError(f"{func.__qualname__} has no parameter(s) {sorted(unknown)}")
        name = caller or _public_name(func)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            bound = signature.bind_partial(*args, **kwargs)
            for param, value in bound.arguments.items():
                if param in constraints:
                    check_param(param, value, constraints[param], name)
            return func(*args, **kwargs)

        return wrapper

    return decorate


def _public_name(func) -> str:
    module = func.__module__.removeprefix("gridtools.")
    parts = [p for p in module.split(".") if not p.startswith("_")]
    # the package a user imports from, not the file: hotspots.prepare, not hotspots.api.prepare
    return f"{parts[0]}.{func.__name__}" if parts else func.__name__

"""Offline address look-up for events that come with text, not coordinates.

A :class:`Gazetteer` is built from named features (OpenStreetMap roads and POIs, or any layer
with a name column).  Chinese incident reports usually name a road, a road and a house number,
or a crossing ("西藏中路与福州路交叉口", "九江路/河南中路路口"); :func:`lookup` normalises the text
(full-width characters, province/city/district prefixes, house numbers, brackets), fuzzy-matches
the road or place names with rapidfuzz (typos and missing suffixes tolerated), and returns

* ``intersection``: two roads named and found -> the point where they cross (or come closest);
* ``road``: one road -> the point of the road nearest its middle (street-level precision: house
  numbers are not in the data and are not guessed);
* ``place``: a named POI / area -> its point;
* no match (score under the cutoff) -> empty coordinates, ``match_kind = ""``: nothing is
  invented.

Everything is in WGS-84 longitude/latitude; the matched coordinates then go through
:func:`gridtools.incidents.locate` like any other.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridtools.errors import InputError, missing_dependency
from gridtools import validate

__all__ = ["Gazetteer", "add_matches", "build_gazetteer", "lookup", "normalize_address", "read_gazetteer"]

#: Columns :func:`add_matches` adds to a table, in order.
MATCH_COLUMNS = ("match_lon", "match_lat", "match_kind", "match_name", "match_score", "match_note")

# Administrative prefixes dropped before matching: "上海市黄浦区南京东路街道" -> "".
_ADMIN = re.compile(r"^(?:中国)?(?:[^省市区县]{2,8}?(?:省|自治区|特别行政区))?(?:[^市区县]{2,8}?市)?"
                    r"(?:[^区县]{1,8}?(?:区|县))?(?:[^街镇乡]{1,8}?(?:街道|镇|乡))?")
_BRACKETS = re.compile(r"[（(\[【][^）)\]】]*[）)\]】]")
_NUMBER = re.compile(r"\d+(?:-\d+)?\s*(?:号|弄|支弄|幢|栋|室|楼|号楼)?.*$")
_ROAD = r"[^与和及/、,，\s]+?(?:大道|公路|高架路|隧道|路|街|巷|弄|道|桥)"
_CROSSING = re.compile(rf"^({_ROAD})\s*(?:与|和|及|/|、|,|，|\s)\s*({_ROAD})")
_SUFFIX = re.compile(r"(?:交叉口|交叉路口|十字路口|路口|口|附近|旁边|旁|对面|处)$")


def normalize_address(text) -> str:
    """Normalise an address for matching: NFKC (full-width -> half-width), no spaces, no brackets.

    Examples
    --------
    >>> normalize_address("上海市黄浦区 福州路１２３号（近河南中路）")
    '上海市黄浦区福州路123号'
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    text = unicodedata.normalize("NFKC", str(text))
    text = _BRACKETS.sub("", text)
    return re.sub(r"\s+", "", text)


def _key(name: str) -> str:
    return normalize_address(name)


def _parse(text: str) -> tuple[str, str | None]:
    """(first name, second road for a crossing or None) from a normalised address."""
    body = _ADMIN.sub("", text, count=1) or text
    body = _SUFFIX.sub("", body)
    crossing = _CROSSING.match(body)
    if crossing:
        return crossing.group(1), _SUFFIX.sub("", crossing.group(2))
    body = _NUMBER.sub("", body) or body
    return body, None


@dataclass
class Gazetteer:
    """Named features for address look-up (WGS-84).

    Attributes
    ----------
    names : geopandas.GeoDataFrame
        One row per distinct name and kind: ``name``, ``key`` (normalised), ``kind``
        (``road`` or ``place``), geometry (all parts of a road merged).
    """

    names: gpd.GeoDataFrame

    def __len__(self) -> int:
        return len(self.names)


def build_gazetteer(features: gpd.GeoDataFrame, name: str = "name") -> Gazetteer:
    """Build a gazetteer from named features: lines are roads, points and polygons are places.

    Parameters
    ----------
    features : geopandas.GeoDataFrame
        E.g. the ``lines`` and ``points`` layers of an OSM file (``io.read_any(path, layer=...)``),
        any CRS.
    name : str
        Name column.

    Returns
    -------
    Gazetteer

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> roads = gpd.GeoDataFrame({"name": ["福州路", "福州路", "河南中路"]}, geometry=[
    ...     shapely.LineString([(121.47, 31.235), (121.48, 31.235)]),
    ...     shapely.LineString([(121.48, 31.235), (121.49, 31.235)]),
    ...     shapely.LineString([(121.485, 31.23), (121.485, 31.24)])], crs=4326)
    >>> gaz = build_gazetteer(roads)
    >>> len(gaz), sorted(gaz.names["name"])
    (2, ['河南中路', '福州路'])
    """

    validate.require_columns(features, {name: "name"}, features.attrs.get("source", "features"))
    if features.crs is None:
        raise InputError("the gazetteer features have no CRS; read them with io.read_any(..., crs=...).")
    frame = features[[name, features.geometry.name]].to_crs(4326)
    frame = frame[frame[name].notna() & (frame[name].astype(str).str.strip() != "")]
    geoms = frame.geometry.to_numpy()
    frame = gpd.GeoDataFrame(
        {"name": frame[name].astype(str).str.strip().to_numpy(),
         "kind": np.where(np.isin(shapely.get_type_id(geoms), [1, 5]), "road", "place")},
        geometry=geoms, crs=4326,
    )
    merged = frame.dissolve(by=["name", "kind"], as_index=False)
    merged["key"] = [_key(n) for n in merged["name"]]
    return Gazetteer(merged[["name", "key", "kind", "geometry"]].reset_index(drop=True))


def read_gazetteer(path, name: str = "name") -> Gazetteer:
    """Build a gazetteer from a file of named features.

    Parameters
    ----------
    path : str or os.PathLike
        An OpenStreetMap extract (``.osm`` / ``.pbf``: its ``lines`` (roads) and ``points``
        layers are read) or any vector file :func:`gridtools.io.read_any` reads.
    name : str
        Name column.

    Returns
    -------
    Gazetteer

    Raises
    ------
    InputError
        The file cannot be read, or no layer has the *name* column.

    Examples
    --------
    >>> gaz = read_gazetteer("shanghai_huangpu_drive.osm")   # doctest: +SKIP
    >>> lookup(["福州路与河南中路交叉口"], gaz)["match_kind"].tolist()   # doctest: +SKIP
    ['intersection']
    """
    from gridtools import io

    path = Path(path)
    if path.suffix.lower() not in (".osm", ".pbf"):
        return build_gazetteer(io.read_any(path), name=name)
    parts = [io.read_any(path, layer=layer) for layer in ("lines", "points")]
    named = [p[[name, "geometry"]] for p in parts if name in p.columns]
    if not named:
        validate.require_columns(parts[0], {name: "name"}, str(path))
    features = gpd.GeoDataFrame(pd.concat(named, ignore_index=True), geometry="geometry", crs=parts[0].crs)
    features.attrs["source"] = str(path)
    return build_gazetteer(features, name=name)


def add_matches(table: pd.DataFrame, address: str, gazetteer: Gazetteer, *,
                score_cutoff: float = 80.0) -> pd.DataFrame:
    """Look up the address texts of a table and add what was found as text columns.

    Parameters
    ----------
    table : pandas.DataFrame
        Events with an address column, e.g. from :func:`gridtools.io.read_text_table`.
    address : str
        Column with the address text.
    gazetteer : Gazetteer
    score_cutoff : float, default 80
        See :func:`lookup`.

    Returns
    -------
    pandas.DataFrame
        A copy of *table* with the columns of :data:`MATCH_COLUMNS` as text: ``match_lon``,
        ``match_lat`` (WGS-84, ``""`` when not found) and the ``match_*`` columns of
        :func:`lookup`.  Feed it to :func:`gridtools.incidents.locate` with
        ``lon="match_lon", lat="match_lat"``.

    Raises
    ------
    InputError
        *table* has no *address* column, or already has one of the match columns.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> roads = gpd.GeoDataFrame({"name": ["福州路"]}, geometry=[
    ...     shapely.LineString([(121.47, 31.235), (121.49, 31.235)])], crs=4326)
    >>> events = pd.DataFrame({"id": ["1", "2"], "addr": ["福州路１２３号", "火星基地"]})
    >>> add_matches(events, "addr", build_gazetteer(roads))[["match_kind", "match_lat"]].values.tolist()
    [['road', '31.235'], ['', '']]
    """

    source = table.attrs.get("source", "events")
    validate.require_columns(table, {address: "address"}, source)
    clash = [c for c in MATCH_COLUMNS if c in table.columns]
    if clash:
        raise InputError(f"{source} already has column(s) {', '.join(clash)}; rename them first")
    found = lookup(table[address].tolist(), gazetteer, score_cutoff=score_cutoff)
    out = table.copy()
    for column in found.columns:
        values = found[column]
        if column in ("lon", "lat"):
            out[f"match_{column}"] = values.map(lambda v: "" if pd.isna(v) else repr(float(v))).to_numpy()
        else:
            out[column] = values.astype(str).to_numpy()
    return out


def _rapidfuzz():
    try:
        from rapidfuzz import fuzz, process
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise missing_dependency("rapidfuzz") from exc
    return fuzz, process


def _best(queries: list[str], keys: list[str], cutoff: float):
    """Best-matching key per query (-1 under *cutoff* or tied), its score (0-100), tie flags."""
    fuzz, process = _rapidfuzz()
    if not queries or not keys:
        return np.full(len(queries), -1), np.zeros(len(queries)), np.zeros(len(queries), bool)
    # chunked score matrix: a few million cells at a time
    best = np.full(len(queries), -1)
    score = np.zeros(len(queries))
    ties = np.zeros(len(queries), bool)
    step = max(1, 4_000_000 // len(keys))
    for lo in range(0, len(queries), step):
        scores = process.cdist(queries[lo : lo + step], keys, scorer=fuzz.ratio, workers=-1)
        idx = scores.argmax(axis=1)
        top = scores[np.arange(len(idx)), idx]
        # Two different names scoring the same best ("福建路" and "福州路" for "福洲路"):
        # ambiguous, so no match rather than a coin flip.
        tied = (scores == top[:, None]).sum(axis=1) > 1 if len(keys) > 1 else np.zeros(len(idx), bool)
        best[lo : lo + step] = np.where((top >= cutoff) & ~tied, idx, -1)
        score[lo : lo + step] = top
        ties[lo : lo + step] = tied & (top >= cutoff)
    return best, score, ties


def _middle_point(geom) -> shapely.Geometry:
    """Point of a (multi)line nearest the middle of its extent: on the road, not off it."""
    return shapely.line_interpolate_point(
        shapely.shortest_line(geom, shapely.centroid(geom)), 0.0
    )


def lookup(addresses, gazetteer: Gazetteer, *, score_cutoff: float = 80.0) -> pd.DataFrame:
    """Find coordinates for address texts.

    Parameters
    ----------
    addresses : array-like of str
    gazetteer : Gazetteer
    score_cutoff : float, default 80
        rapidfuzz ``ratio`` (0-100) a name must reach; lower matches are reported as no match,
        and so are ties between different names.  Chinese road names are short: a dropped
        character ("河南路" for "河南中路") scores 86, a wrong one in a 3-character name 67.

    Returns
    -------
    pandas.DataFrame
        One row per address: ``lon``, ``lat`` (NaN when not found), ``match_kind``
        (``intersection``, ``road``, ``place`` or ``""``), ``match_name``, ``match_score`` (best
        score, also when under the cutoff), ``match_note`` (``""``, ``"not found"`` or
        ``"ambiguous"``: several names score the same best).

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> roads = gpd.GeoDataFrame({"name": ["福州路", "河南中路"]}, geometry=[
    ...     shapely.LineString([(121.47, 31.235), (121.49, 31.235)]),
    ...     shapely.LineString([(121.485, 31.23), (121.485, 31.24)])], crs=4326)
    >>> found = lookup(["上海市黄浦区福州路与河南中路交叉口", "河南路１２３号", "火星基地"], build_gazetteer(roads))
    >>> found[["match_kind", "match_name"]].values.tolist()
    [['intersection', '福州路/河南中路'], ['road', '河南中路'], ['', '']]
    >>> [round(v, 3) for v in found.loc[0, ["lon", "lat"]]]
    [121.485, 31.235]
    """
    texts = [normalize_address(a) for a in addresses]
    parsed = [_parse(t) for t in texts]
    names = gazetteer.names
    keys = names["key"].tolist()
    roads = np.flatnonzero(names["kind"].to_numpy() == "road")
    road_keys = [keys[i] for i in roads]
    firsts = [p[0] for p in parsed]
    seconds = [p[1] for p in parsed]
    # A first name matches anything; the second name of a crossing is a road.
    idx1, score1, tie1 = _best(firsts, keys, score_cutoff)
    has2 = np.array([s is not None for s in seconds])
    idx2 = np.full(len(texts), -1)
    score2 = np.zeros(len(texts))
    if has2.any():
        i2, s2, _ = _best([s for s in seconds if s is not None], road_keys, score_cutoff)
        idx2[has2] = np.where(i2 >= 0, roads[np.maximum(i2, 0)], -1)
        score2[has2] = s2
    geoms = names.geometry.to_numpy()
    lon = np.full(len(texts), np.nan)
    lat = np.full(len(texts), np.nan)
    kind = np.full(len(texts), "", dtype=object)
    label = np.full(len(texts), "", dtype=object)
    score = np.round(score1, 1)
    note = np.where(tie1, "ambiguous", np.where(idx1 < 0, "not found", "")).astype(object)
    for i in range(len(texts)):  # per matched address: geometry work on one or two features
        a, b = idx1[i], idx2[i]
        if a < 0:
            continue
        if b >= 0 and names.at[a, "kind"] == "road" and a != b:
            pa, pb = shapely.shortest_line(geoms[a], geoms[b]).coords
            point = shapely.Point((pa[0] + pb[0]) / 2, (pa[1] + pb[1]) / 2)
            kind[i], label[i] = "intersection", f"{names.at[a, 'name']}/{names.at[b, 'name']}"
            score[i] = min(score1[i], score2[i])
        else:
            point = _middle_point(geoms[a]) if names.at[a, "kind"] == "road" else shapely.point_on_surface(geoms[a])
            kind[i], label[i], score[i] = names.at[a, "kind"], names.at[a, "name"], score1[i]
        lon[i], lat[i] = point.x, point.y
    return pd.DataFrame({"lon": lon, "lat": lat, "match_kind": kind, "match_name": label,
                         "match_score": np.round(score, 1), "match_note": note})

"""Which buildings nobody lives in, read from their OpenStreetMap tags.

A dasymetric population estimate spreads residents over floor area; an office tower, a mall or
a TV tower would otherwise take the largest share of a district's residents.  This module reads
the tags a building carries in the usual OSM exports and says, per building, why it is *not*
a home (an empty reason means it counts):

* GDAL's OSM ``multipolygons`` layer: columns ``building``, ``amenity``, ``shop``, ``office``,
  ``tourism``, ``man_made``, ``landuse``, ... plus ``other_tags`` (``"k"=>"v",...``, holding
  ``building:part``, ``building:levels`` and ``height``);
* Tilezen / Nextzen vector tiles: ``kind`` (``building`` / ``building_part``), ``kind_detail``
  (the ``building=*`` value) and ``landuse_kind`` (the land use the building stands on);
* any footprint file with a ``building`` column.

Rules, first match wins:

1. a building part (``building:part=*``, Tilezen ``kind=building_part``): its building counts;
2. a feature of GDAL's OSM polygon layer (``other_tags`` / ``osm_way_id`` columns) with no
   ``building`` tag (a park, a land-use area);
3. ``building=<value>`` with value 0 in :data:`RESIDENTIAL_SHARE_BY_TAG` (office, commercial,
   industrial, retail, warehouse, school, tower, ...);
4. a building tagged as a home (``building=residential/apartments/house/dormitory/...``) counts,
   whatever shop or amenity its ground floor has;
5. otherwise (``building=yes`` or no value) a tag of its own saying what it is used for
   (``amenity``, ``shop``, ``office``, ``tourism``, ``man_made``, ``craft``, ``aeroway``,
   ``military``, ``healthcare``, ``leisure``; a few values that do house people, such as
   ``amenity=social_facility``, are kept) or a non-residential ``landuse`` / ``landuse_kind``;
6. otherwise taller than ``settings.supertall_m`` (250 m): a supertall tower with no home tag is
   offices, a hotel or an observation deck (the tallest homes in China are far lower), so it
   does not take the residents of a whole block;
7. otherwise a ``name`` / ``name:en`` / ``name:zh`` naming a use nobody lives in
   (:data:`NON_RESIDENTIAL_NAME`: bank, securities, exchange, finance, hotel, mall, museum,
   hospital, school; 银行, 证券, 交易所, 金融, 酒店, 商场, 博物馆, 医院, 学校, ...): vector tiles
   drop ``building=yes`` and keep only the name of many office towers.

Examples
--------
>>> import pandas as pd
>>> tags = pd.DataFrame({"building": ["apartments", "office", "yes", "yes"],
...                      "shop": [None, None, "mall", None]})
>>> non_residential_reasons(tags).tolist()
['', 'building=office', 'shop=mall', '']
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from gridtools import settings

__all__ = ["RESIDENTIAL_SHARE_BY_TAG", "USE_KEYS", "non_residential_reasons", "osm_other_tags"]

#: Residential share of a building's floor area by its OSM ``building=*`` value (lower case).
#: 1 means "people live here", 0 means "nobody is registered here".  ``yes`` (the untagged
#: default in OSM) counts as residential because most mapped buildings without a type in a
#: residential district are homes; the other rules of this module then look at its other tags.
#: Values absent from this table get the scalar ``residential_share``.  Edit the dict (it is
#: module-level, like ``osmnx.settings``) to change the mapping.
RESIDENTIAL_SHARE_BY_TAG: dict[str, float] = {
    # homes
    **dict.fromkeys(
        (
            "yes", "residential", "apartments", "house", "detached", "semidetached_house",
            "terrace", "dormitory", "bungalow", "cabin", "farm", "houseboat", "static_caravan",
        ),
        1.0,
    ),
    # work, trade, services, worship, transport, storage, structures
    **dict.fromkeys(
        (
            "commercial", "office", "industrial", "retail", "warehouse", "supermarket", "mall",
            "shop", "kiosk", "hotel", "bank", "manufacture", "factory",
            "school", "university", "college", "kindergarten", "hospital", "clinic",
            "public", "civic", "government", "embassy", "fire_station", "police",
            "church", "cathedral", "chapel", "mosque", "temple", "shrine", "synagogue",
            "religious", "monastery", "place_of_worship", "arts_centre", "museum",
            "train_station", "transportation", "bus_station", "parking", "garage", "garages",
            "carport", "hangar", "shed", "barn", "stable", "cowshed", "greenhouse", "service",
            "stadium", "sports_hall", "sports_centre", "grandstand", "pavilion",
            "toilets", "transformer_tower", "water_tower", "tower", "communications_tower",
            "bridge", "roof", "ruins", "construction", "bunker", "military", "silo",
            "storage_tank", "digester", "attraction",
        ),
        0.0,
    ),
}

#: Tag keys whose presence on a ``building=yes`` feature says what it is used for.
USE_KEYS: tuple[str, ...] = (
    "amenity", "shop", "office", "tourism", "man_made", "craft", "aeroway", "military",
    "healthcare", "leisure",
)

#: Values of :data:`USE_KEYS` that still house people (kept as homes).
HOUSING_USES: frozenset[str] = frozenset({
    "amenity=social_facility", "amenity=nursing_home", "amenity=retirement_home",
    "amenity=childcare", "tourism=apartment", "office=yes;residential",
})

#: Land uses on which a building with no other tag counts as a home.
HOUSING_LANDUSE: frozenset[str] = frozenset({"residential", "village_green", "farmyard", "allotments"})

#: Words in a building's name that say nobody lives there (rule 7), matched case-insensitively.
NON_RESIDENTIAL_NAME = re.compile(
    r"\b(?:bank|securities|stock exchange|financ\w*|hotel|mall|museum|hospital|school|university|"
    r"office tower|trade cent(?:er|re)|convention|exhibition)\b"
    r"|银行|证券|交易所|金融|酒店|饭店|宾馆|商场|百货|博物馆|医院|学校|大学|写字楼|办公楼|商务楼|集团|会议中心|会展|展览",
    re.IGNORECASE,
)

_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"')


def osm_other_tags(values: pd.Series, keys) -> pd.DataFrame:
    """Pick *keys* out of GDAL's ``other_tags`` column (``"k"=>"v","k2"=>"v2"``).

    Parameters
    ----------
    values : pandas.Series
        The ``other_tags`` column (text or missing).
    keys : iterable of str
        Tag keys to extract.

    Returns
    -------
    pandas.DataFrame
        One column per key, same index as *values*, missing where the tag is absent.

    Examples
    --------
    >>> s = pd.Series(['"building:levels"=>"6","height"=>"20"', None])
    >>> osm_other_tags(s, ["building:levels", "height"]).values.tolist()
    [['6', '20'], [None, None]]
    """
    keys = list(keys)
    rows = [dict(_PAIR.findall(v)) if isinstance(v, str) else {} for v in values]
    return pd.DataFrame([[r.get(k) for k in keys] for r in rows], columns=keys, index=values.index,
                        dtype=object)


def non_residential_reasons(buildings: pd.DataFrame, *, tag_col: str = "building",
                            height: np.ndarray | None = None) -> pd.Series:
    """Why each building is not a home, from its OSM tags ('' where it counts as one).

    Parameters
    ----------
    buildings : pandas.DataFrame
        Building features with some of the tag columns described in the module docstring.
    tag_col : str
        Column of the ``building=*`` tag (Tilezen's ``kind_detail`` is used when it is absent).
    height : numpy.ndarray, optional
        Height in metres per building (NaN where unknown) for rule 6.

    Returns
    -------
    pandas.Series of str
        Same index as *buildings*: ``''``, ``'building part'``, ``'not a building'``,
        ``'building=office'``, ``'amenity=school'``, ``'landuse=commercial'``,
        ``'taller than 250 m'``...

    Examples
    --------
    >>> tags = pd.DataFrame({"kind": ["building", "building_part"], "kind_detail": ["office", None]})
    >>> non_residential_reasons(tags).tolist()
    ['building=office', 'building part']
    """
    n = len(buildings)
    reason = np.full(n, "", dtype=object)
    extra = _other_tags(buildings)

    def column(name: str) -> pd.Series:
        if name in buildings.columns:
            col = buildings[name]
        elif name in extra.columns:
            col = extra[name]
        else:
            return pd.Series([None] * n, index=buildings.index, dtype=object)
        return pd.Series(col.to_numpy(), index=buildings.index, dtype="string").str.strip().str.lower()

    def decide(mask, text) -> None:
        free = (reason == "") & np.asarray(mask, dtype=bool)
        reason[free] = text[free] if isinstance(text, np.ndarray) else text

    building = column(tag_col) if tag_col in buildings.columns else column("kind_detail")
    kind = column("kind")
    decide(column("building:part").notna().to_numpy() | (kind == "building_part").fillna(False).to_numpy(),
           "building part")
    # GDAL's OSM polygon layer mixes buildings with land use, parks, water: there no tag means no building
    if tag_col in buildings.columns and any(k in buildings.columns for k in ("other_tags", "osm_way_id")):
        decide(building.isna().to_numpy(), "not a building")
    share = building.map({k.lower(): float(v) for k, v in RESIDENTIAL_SHARE_BY_TAG.items()})
    decide((share == 0).fillna(False).to_numpy(), ("building=" + building.fillna("")).to_numpy(dtype=object))
    home = (share == 1).fillna(False).to_numpy() & (building != "yes").fillna(False).to_numpy()
    reason[home & (reason == "")] = "-"  # rule 4: settled as a home
    for key in USE_KEYS:
        value = column(key)
        pair = (key + "=" + value.fillna("")).to_numpy(dtype=object)
        decide(value.notna().to_numpy() & ~np.isin(pair, list(HOUSING_USES)), pair)
    for key in ("landuse", "landuse_kind"):
        value = column(key)
        decide((value.notna() & ~value.isin(HOUSING_LANDUSE)).fillna(False).to_numpy(),
               ("landuse=" + value.fillna("")).to_numpy(dtype=object))
    if height is not None and settings.supertall_m is not None:
        decide(np.nan_to_num(np.asarray(height, dtype=float)) > settings.supertall_m,
               f"taller than {settings.supertall_m:g} m with no home tag")
    for key in ("name", "name:en", "name:zh"):
        found = column(key).str.extract(NON_RESIDENTIAL_NAME.pattern.join("()"), flags=re.IGNORECASE)[0]
        decide(found.notna().to_numpy(), ("name has '" + found.fillna("") + "'").to_numpy(dtype=object))
    reason[reason == "-"] = ""
    return pd.Series(reason, index=buildings.index, dtype=object, name="excluded")


def _other_tags(buildings: pd.DataFrame) -> pd.DataFrame:
    """The tags this module reads out of an ``other_tags`` column (empty without one)."""
    if "other_tags" not in buildings.columns:
        return pd.DataFrame(index=buildings.index)
    wanted = ("building:part", "building:levels", "height", *USE_KEYS, "landuse")
    return osm_other_tags(buildings["other_tags"], [k for k in wanted if k not in buildings.columns])

"""OpenStreetMap features -> components, through the ``osm`` column of the class table.

``highway=street_lamp`` becomes 0118 street lamp, ``man_made=manhole`` + ``manhole=water`` 0101
water supply cover, ``natural=tree`` 0402 street tree, ``emergency=fire_hydrant`` 0113, any
``traffic_sign=*`` 0209, and so on: see ``gridtools/data/component_classes.csv``.  The most
specific rule wins (``natural=tree`` + ``denotation=natural_monument`` is a heritage tree).
Each component's source key is its OSM element (``osm:node/123``), so importing a newer extract
of the same area adds only new elements.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from gridtools.components.classes import load_classes, parse_osm_rules
from gridtools.errors import InputError, missing_dependency

__all__ = ["classify_osm", "read_osm_components", "OSM_SUFFIXES"]

OSM_SUFFIXES = (".pbf", ".osm.pbf")


def classify_osm(features: pd.DataFrame, classes: pd.DataFrame | None = None) -> pd.Series:
    """Class code of each OSM feature from its tag columns (``""`` when no rule matches).

    Examples
    --------
    >>> df = pd.DataFrame({"highway": ["street_lamp", None], "natural": [None, "tree"],
    ...                    "denotation": [None, "natural_monument"]})
    >>> classify_osm(df).tolist()
    ['0118', '0401']
    """
    classes = load_classes() if classes is None else classes
    result = np.full(len(features), "", dtype=object)
    for code, conditions in parse_osm_rules(classes):
        mask = np.ones(len(features), dtype=bool)
        for key, value in conditions:
            if key not in features.columns:
                mask[:] = False
                break
            column = features[key].astype(object)
            mask &= (column.notna() & (column.astype(str) != "")).to_numpy() if value == "*" else (
                column.astype(str) == value).to_numpy()
        mask &= result == ""
        result[mask] = code
    return pd.Series(result, index=features.index, name="class_code")


def read_osm_components(path, classes: pd.DataFrame | None = None) -> tuple[gpd.GeoDataFrame, int]:
    """Read the features of an ``.osm.pbf`` file that the class table maps to a component class.

    Uses pyrosm (a core dependency).  Nodes, ways and their tags are read; ways become a point
    inside them at import.

    Returns
    -------
    (components, ignored)
        EPSG:4326 GeoDataFrame with ``osm_key`` (``osm:node/123``), ``class_code``, ``name``, the
        OSM tag columns and geometry; and how many features matched a filter key but no rule.
    """
    try:
        from pyrosm import OSM
    except ImportError as exc:  # pragma: no cover - pyrosm is a core dependency
        raise missing_dependency("pyrosm") from exc
    classes = load_classes() if classes is None else classes
    path = Path(path)
    if not path.exists():
        raise InputError(f"file not found: {path}")
    rules = parse_osm_rules(classes)
    wanted: dict[str, set | bool] = {}
    extra: set[str] = set()
    for _, conditions in rules:
        key, value = conditions[0]
        if value == "*":
            wanted[key] = True
        elif wanted.get(key) is not True:
            wanted.setdefault(key, set()).add(value)
        extra.update(k for k, _ in conditions)
    custom = {k: (True if v is True else sorted(v)) for k, v in wanted.items()}
    try:
        osm = OSM(str(path))
        data = osm.get_data_by_custom_criteria(custom_filter=custom, filter_type="keep", keep_nodes=True,
                                               keep_ways=True, keep_relations=False,
                                               extra_attributes=sorted(extra))
    except Exception as exc:  # pyrosm raises plain exceptions for unreadable files
        raise InputError(f"cannot read {path} as OpenStreetMap PBF: {exc}") from exc
    if data is None or not len(data):
        empty = gpd.GeoDataFrame({"osm_key": [], "class_code": [], "name": []}, geometry=[], crs=4326)
        return empty, 0
    data = data.set_crs(4326, allow_override=True) if data.crs is None else data.to_crs(4326)
    data = data.reset_index(drop=True)
    data["class_code"] = classify_osm(data, classes)
    matched = data["class_code"] != ""
    data = data[matched].copy()
    data["osm_key"] = "osm:" + data["osm_type"].astype(str) + "/" + data["id"].astype(str)
    tag_cols = [c for c in sorted(extra) if c in data.columns]
    data["note"] = data[tag_cols].apply(
        lambda r: "; ".join(f"{k}={v}" for k, v in r.items() if isinstance(v, str) and v), axis=1) if tag_cols else None
    keep = ["osm_key", "class_code"] + (["name"] if "name" in data.columns else []) + ["note", "geometry"]
    return data[keep].reset_index(drop=True), int((~matched).sum())

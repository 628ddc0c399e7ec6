"""The component class table: major classes 01-06 and their subclasses (GB/T 30428.2 / CJ/T 214).

The table ships as ``gridtools/data/component_classes.csv`` (comment lines start with ``#`` and
cite where each code comes from).  Users extend it with local codes by passing their own table,
which is merged over the shipped one (same ``class_code`` replaces, new codes are added).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from gridtools.errors import InputError, rows_where

__all__ = ["CLASS_COLUMNS", "MAJOR_CLASSES", "load_classes", "merge_classes", "check_classes"]

CLASSES_FILE = Path(__file__).resolve().parents[1] / "data" / "component_classes.csv"

#: Columns of a class table; ``osm`` and ``source``/``note`` may be empty.
CLASS_COLUMNS = ("class_code", "major_code", "sub_code", "major_zh", "major_en", "name_zh", "name_en",
                 "osm", "source", "note")

#: The six major classes of the standard.
MAJOR_CLASSES: dict[str, tuple[str, str]] = {
    "01": ("公用设施", "public utilities"),
    "02": ("道路交通", "roads and traffic"),
    "03": ("市容环境", "city appearance and environment"),
    "04": ("园林绿化", "landscaping and greenery"),
    "05": ("房屋土地", "housing and land"),
    "06": ("其他设施", "other facilities"),
}


def load_classes(path: str | Path | None = None) -> pd.DataFrame:
    """Read a class table (default: the shipped one).

    Parameters
    ----------
    path : str or Path, optional
        A CSV with at least ``class_code``, ``name_zh``, ``name_en``; lines starting with ``#``
        are comments.  Missing ``major_*``/``sub_code`` columns are derived from the code.

    Returns
    -------
    pandas.DataFrame
        One row per class, all columns text, indexed 0..n-1, sorted by ``class_code``.

    Examples
    --------
    >>> classes = load_classes()
    >>> classes.set_index("class_code").loc["0118", "name_en"]
    'street lamp'
    >>> sorted(classes["major_code"].unique())
    ['01', '02', '03', '04', '05', '06']
    """
    path = Path(path) if path is not None else CLASSES_FILE
    if not path.exists():
        raise InputError(f"class table not found: {path}")
    try:
        table = pd.read_csv(path, comment="#", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"cannot read the class table {path}: {exc}") from exc
    return check_classes(table, str(path))


def check_classes(table: pd.DataFrame, source: str = "class table") -> pd.DataFrame:
    """Validate and normalise a class table (see :func:`load_classes`).

    Raises
    ------
    InputError
        Missing columns, codes that are not 4 digits, duplicate codes, or an empty name.

    Examples
    --------
    >>> t = check_classes(pd.DataFrame({"class_code": ["2101"], "name_zh": ["防蚊闸"],
    ...                                 "name_en": ["mosquito gate"]}))
    >>> t.loc[0, ["major_code", "sub_code"]].tolist()
    ['21', '01']
    """
    table = table.copy()
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in ("class_code", "name_zh", "name_en") if c not in table.columns]
    if missing:
        raise InputError(f"{source}: missing column(s) {', '.join(missing)}; a class table needs "
                         "class_code, name_zh and name_en (see gridtools/data/component_classes.csv)")
    for column in CLASS_COLUMNS:
        if column not in table.columns:
            table[column] = ""
    table = table[list(CLASS_COLUMNS)].fillna("").astype(str).apply(lambda s: s.str.strip())
    code = table["class_code"]
    bad = ~code.str.fullmatch(r"\d{4}")
    if bad.any():
        raise InputError(f"{source}: class_code must be 4 digits (2 major + 2 sub) at "
                         f"{rows_where(bad.to_numpy(), table.index)}; got {code[bad].tolist()[:5]}")
    dup = code.duplicated(keep=False)
    if dup.any():
        raise InputError(f"{source}: class_code repeated at {rows_where(dup.to_numpy(), table.index)} "
                         f"({sorted(set(code[dup]))}); each code names one class")
    empty = (table["name_zh"] == "") & (table["name_en"] == "")
    if empty.any():
        raise InputError(f"{source}: class without a name at {rows_where(empty.to_numpy(), table.index)}")
    table["major_code"] = code.str[:2]
    table["sub_code"] = code.str[2:]
    for major, (zh, en) in MAJOR_CLASSES.items():
        mine = table["major_code"] == major
        table.loc[mine & (table["major_zh"] == ""), "major_zh"] = zh
        table.loc[mine & (table["major_en"] == ""), "major_en"] = en
    return table.sort_values("class_code", kind="stable").reset_index(drop=True)


def merge_classes(base: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
    """Classes of *base* with those of *extra* added or replacing the same ``class_code``.

    Examples
    --------
    >>> extra = pd.DataFrame({"class_code": ["2101"], "name_zh": ["防蚊闸"], "name_en": ["mosquito gate"]})
    >>> merged = merge_classes(load_classes(), extra)
    >>> "2101" in set(merged["class_code"])
    True
    """
    extra = check_classes(extra, "extra classes")
    kept = base[~base["class_code"].isin(extra["class_code"])]
    return check_classes(pd.concat([kept, extra], ignore_index=True))


def parse_osm_rules(table: pd.DataFrame) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """OSM crosswalk rules ``(class_code, ((key, value), ...))``, most specific first.

    Examples
    --------
    >>> rules = parse_osm_rules(load_classes())
    >>> ("0402", (("natural", "tree"),)) in rules
    True
    >>> [c for c, cond in rules].index("0401") < [c for c, cond in rules].index("0402")
    True
    """
    rules = []
    for order, (code, text) in enumerate(zip(table["class_code"], table["osm"])):
        for alternative in filter(None, (a.strip() for a in str(text).split(";"))):
            conditions = []
            for part in alternative.split("&"):
                key, sep, value = part.partition("=")
                if not sep or not re.fullmatch(r"[\w:.\-]+", key.strip()):
                    raise InputError(f"class {code}: bad OSM condition {part!r} in {text!r}; write "
                                     "key=value, join conditions with & and alternatives with ;")
                conditions.append((key.strip(), value.strip()))
            rules.append((-len(conditions), order, code, tuple(conditions)))
    rules.sort(key=lambda r: (r[0], r[1]))
    return [(code, cond) for _, _, code, cond in rules]

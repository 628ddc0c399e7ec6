"""Identifiers in the input contract: which column names a row, and rows that say the same twice.

A key (a unit id, a component code, an event id) must name one row: a duplicated key joins the
wrong population to a unit or counts an event twice.  Two rows with the same geometry are the
same thing entered twice as often as not (an export run twice, a layer appended to itself).
Readers and capability functions call :func:`check_unique_keys` and :func:`check_duplicate_geometries`
where data enters; ``dedupe=True`` keeps the first row of each duplicate and says how many went.

Examples
--------
>>> import pandas as pd
>>> id_column(pd.DataFrame({"pop": [3, 4], "GEOID20": ["36087", "36088"]}))
'GEOID20'
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import shapely

from gridtools.errors import InputError, describe_rows

__all__ = ["id_column", "row_names", "check_unique_keys", "check_duplicate_geometries"]

_ID_NAME = re.compile(r"(?:^|[_\W])(?:id|code|geoid\w*|key|fid|uid|ref)$|^(?:geoid\w*|id\w*|code\w*|name)$",
                      re.IGNORECASE)


def id_column(frame: pd.DataFrame) -> str | None:
    """The column that names each row: the first id-like column (``id``, ``*_id``, ``GEOID20``,
    ``code``, ``name``...) whose values are all present and distinct; None if there is none.

    Examples
    --------
    >>> id_column(pd.DataFrame({"block_id": [1, 1], "name": ["a", "b"]}))
    'name'
    """
    geometry = getattr(frame, "_geometry_column_name", None)
    for column in frame.columns:
        if column == geometry or not _ID_NAME.search(str(column)):
            continue
        values = frame[column]
        if values.notna().all() and values.is_unique:
            return str(column)
    return None


def row_names(frame: pd.DataFrame, positions) -> list[str]:
    """How a message names rows at *positions* (0-based): ``"GEOID20 360870101001000"`` when the
    frame has an id column (:func:`id_column`), else ``"row 838"`` (counting from 1).

    Examples
    --------
    >>> row_names(pd.DataFrame({"code": ["A7", "B2"]}), [1])
    ['code B2']
    >>> row_names(pd.DataFrame({"pop": [1, 2]}), [1])
    ['row 2']
    """
    column = id_column(frame)
    positions = [int(p) for p in positions]
    if column is None:
        return [f"row {p + 1}" for p in positions]
    values = frame[column].to_numpy()
    return [f"{column} {values[p]}" for p in positions]


def check_unique_keys(frame: pd.DataFrame, key: str, source: str = "data", *, dedupe: bool = False,
                      option: str | None = "dedupe=True", rows=None) -> pd.DataFrame:
    """Refuse rows that share a *key* value, naming the values and rows; or keep the first with *dedupe*.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table; *key* must be one of its columns.
    key : str
        Column that must name one row each.
    source : str
        File or table named in the message.
    dedupe : bool
        Keep the first row of each key (``attrs["deduplicated"]`` counts the rows dropped)
        instead of refusing.
    option : str or None
        How the caller spells *dedupe* in the message; None where deduplicating is no answer.
    rows : array-like of int, optional
        The row number of each row in its file (counting from 1), where rows were set aside
        before this check; default: position + 1.

    Returns
    -------
    pandas.DataFrame
        *frame* itself when its keys are unique, else (with *dedupe*) the first row of each key.

    Raises
    ------
    InputError
        Duplicated keys without *dedupe*.

    Examples
    --------
    >>> t = pd.DataFrame({"id": ["a", "b", "a"], "pop": [1, 2, 3]})
    >>> check_unique_keys(t, "id", dedupe=True)["pop"].tolist()
    [1, 2]
    """
    repeated = frame[key].duplicated(keep=False).to_numpy()
    if not repeated.any():
        return frame
    if dedupe:
        kept = frame.loc[~frame[key].duplicated(keep="first").to_numpy()].copy()
        kept.attrs.update(frame.attrs, deduplicated=len(frame) - len(kept))
        return kept
    values = pd.unique(frame[key].to_numpy()[repeated])
    shown = ", ".join(repr(str(v)) for v in values[:5]) + (f" (and {len(values) - 5} more)" if len(values) > 5 else "")
    raise InputError(
        f"{source}: column {key!r} must name one row each, but {len(values)} value(s) appear more than once: "
        f"{shown} ({describe_rows(_row_numbers(rows, len(frame))[repeated])}, counting from 1). Remove or merge the repeated "
        "rows" + (f", or pass {option} to keep the first row of each {key}." if option else ".")
    )


def _row_numbers(rows, n: int) -> np.ndarray:
    return np.arange(1, n + 1) if rows is None else np.asarray(rows, dtype=np.int64)


def check_duplicate_geometries(frame, source: str = "data", *, dedupe: bool = False,
                               option: str = "dedupe=True"):
    """Refuse rows whose geometry repeats an earlier row's exactly; or keep the first with *dedupe*.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> g = gpd.GeoDataFrame({"n": [1, 2]}, geometry=[Point(0, 0), Point(0, 0)], crs=3857)
    >>> len(check_duplicate_geometries(g, dedupe=True))
    1
    """
    wkb = pd.Series(shapely.to_wkb(shapely.normalize(frame.geometry.to_numpy())), index=frame.index)
    first_copy = wkb.duplicated(keep="first").to_numpy() & wkb.notna().to_numpy()
    if not first_copy.any():
        return frame
    if dedupe:
        kept = frame.loc[~first_copy].copy()
        kept.attrs.update(frame.attrs, deduplicated=int(first_copy.sum()))
        return kept
    raise InputError(
        f"{source}: {int(first_copy.sum())} row(s) repeat the geometry of an earlier row "
        f"({describe_rows(np.flatnonzero(first_copy) + 1)}, counting from 1): the same feature entered twice "
        f"would be counted twice. Remove them, or pass {option} to keep the first of each."
    )


#: A vehicle plate: letters, digits and CJK characters (沪A12345, 京A·D12345, 粤B1234学), with
#: single separators ("-", "·", space) between them; nothing that HTML or a shell gives meaning to.
PLATE_PATTERN = r"^[0-9A-Za-z\u3400-\u9fff](?:[ ·-]?[0-9A-Za-z\u3400-\u9fff])*$"


def plate(text, max_length: int = 16) -> str:
    """A vehicle plate, stripped and upper-cased, or :class:`InputError` naming what is wrong.

    Parameters
    ----------
    text : str
    max_length : int
        Longest plate accepted (Chinese plates have 7-8 characters, European ones up to 10).

    Examples
    --------
    >>> plate(" 沪a12345 ")
    '沪A12345'
    >>> try:
    ...     plate("<b>")
    ... except InputError as exc:
    ...     print(str(exc)[:39])
    plate '<b>' is not a vehicle plate: use
    """
    raw = str(text if text is not None else "").strip()
    value = raw.upper()
    if not value:
        raise InputError("give the truck's plate (e.g. 沪A12345)")
    if len(value) > max_length or not re.match(PLATE_PATTERN, value):
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        raise InputError(f"plate {shown!r} is not a vehicle plate: use letters, digits and Chinese characters "
                         f"(e.g. 沪A12345), with at most single '-', '·' or spaces between them"
                         + (f" ({len(value)} characters; at most {max_length})" if len(value) > max_length else ""))
    return value

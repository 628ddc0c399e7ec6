"""Hierarchical grid codes.

The default layout (``settings.code_layout``) is 17 digits::

    320508   019     044      003     00
    county   town/   village/ grid    sub-grid (00 = the whole grid)
    GB/T2260 street  community serial

The first 12 digits are the statistical code of the community (the *parent*); the first 15 are
the unit-grid code of digital city-management systems.  Grid serials run west to east, north to
south within their parent, and a serial is never reused once retired.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridtools import settings
from gridtools.errors import InputError


@dataclass(frozen=True)
class CodeLayout:
    """Digit widths of each level of a grid code.

    Parameters
    ----------
    widths : tuple of int
        Widths of the levels; the last two are the grid serial and the sub-grid, everything
        before them is the parent (community) code.

    Examples
    --------
    >>> layout = CodeLayout((6, 3, 3, 3, 2))
    >>> layout.parent_width, layout.serial_width, layout.total
    (12, 3, 17)
    """

    widths: tuple[int, ...] = settings.code_layout

    def __post_init__(self):
        if len(self.widths) < 2 or any(int(w) < 1 for w in self.widths):
            raise InputError(f"code layout {self.widths} needs at least a serial and a sub-grid width >= 1")

    @property
    def parent_width(self) -> int:
        return int(sum(self.widths[:-2]))

    @property
    def serial_width(self) -> int:
        return int(self.widths[-2])

    @property
    def sub_width(self) -> int:
        return int(self.widths[-1])

    @property
    def total(self) -> int:
        return int(sum(self.widths))

    def parent_of(self, codes: pd.Series) -> pd.Series:
        """Parent (community) part of each code."""
        return codes.astype(str).str[: self.parent_width]

    def serial_of(self, codes: pd.Series) -> pd.Series:
        """Grid serial of each code, as an integer."""
        start = self.parent_width
        return codes.astype(str).str[start : start + self.serial_width].astype(int)

    def make(self, parents: pd.Series, serials) -> pd.Series:
        """Join parent codes and integer serials into full codes (sub-grid ``00``)."""
        serials = pd.Series(np.asarray(serials), index=parents.index)
        limit = 10**self.serial_width - 1
        if (serials > limit).any():
            worst = parents[serials > limit].iloc[0]
            raise InputError(
                f"community {worst} needs more than {limit} grids, the most a {self.serial_width}-digit "
                "serial can number; nest the partition in smaller areas (within='COLUMN')"
            )
        return (parents.astype(str) + serials.astype(int).astype(str).str.zfill(self.serial_width)
                + "0" * self.sub_width)


def check_prefix(prefix: str | None, layout: CodeLayout) -> str:
    """Validate a code prefix: digits only and not longer than the parent code."""
    prefix = "" if prefix is None else str(prefix).strip()
    if prefix and not prefix.isdigit():
        raise InputError(f"code prefix {prefix!r} must be digits only, e.g. a 6-digit county code (GB/T 2260)")
    if len(prefix) > layout.parent_width:
        raise InputError(
            f"code prefix {prefix!r} has {len(prefix)} digits; at most {layout.parent_width} "
            "(county + town + community) fit before the grid serial"
        )
    return prefix


def reading_order(points_x: np.ndarray, points_y: np.ndarray, row_height: float) -> np.ndarray:
    """Rank of each point when read in rows north to south, each row west to east."""
    # round, not floor: centres of a regular lattice sit exactly on row boundaries, where float
    # noise would split a row in two
    row = np.rint((np.max(points_y) - points_y) / max(row_height, 1e-9)).astype(np.int64)
    return np.lexsort((points_x, row))


def parent_codes(group_values: pd.Series, group_x: pd.Series, group_y: pd.Series, prefix: str,
                 layout: CodeLayout) -> pd.Series:
    """Parent (community) code of each nesting group.

    Groups whose value is already a digit code that completes ``prefix`` to the parent width
    (or a full parent code starting with ``prefix``) keep it; other groups are numbered in
    reading order and the number fills the digits after the prefix.

    Parameters
    ----------
    group_values : pandas.Series
        The ``within`` value of each group (index: group id).
    group_x, group_y : pandas.Series
        A representative point of each group, metric CRS.
    prefix : str
    layout : CodeLayout

    Returns
    -------
    pandas.Series of str, indexed like ``group_values``.
    """
    width = layout.parent_width - len(prefix)
    text = group_values.astype(str)
    as_code = text.where(text.str.fullmatch(r"\d+"), None)
    completes = as_code.str.len() == width
    full = (as_code.str.len() == layout.parent_width) & as_code.str.startswith(prefix)
    if (completes | full).all():
        return (prefix + as_code).where(completes, as_code)
    if width == 0:
        if len(group_values) > 1:
            raise InputError(
                f"code prefix {prefix!r} already fills the {layout.parent_width}-digit community code, so "
                "the nesting groups cannot be told apart; give a shorter prefix"
            )
        return pd.Series(prefix, index=group_values.index)
    spacing = np.sqrt(np.ptp(group_y.to_numpy()) * np.ptp(group_x.to_numpy()) / max(len(group_x), 1)) or 1.0
    order = reading_order(group_x.to_numpy(), group_y.to_numpy(), spacing)
    number = np.empty(len(order), dtype=np.int64)
    number[order] = np.arange(1, len(order) + 1)
    if number.max() >= 10**width:
        raise InputError(f"{len(order)} nesting groups do not fit in {width} digits after prefix {prefix!r}")
    return pd.Series([prefix + str(v).zfill(width) for v in number], index=group_values.index)


def serials_in_reading_order(parents: pd.Series, x: np.ndarray, y: np.ndarray, row_height: float,
                             start: int = 1) -> np.ndarray:
    """Serial of each grid within its parent: 1, 2, ... west to east, north to south."""
    order = pd.DataFrame({"parent": parents.to_numpy(), "x": x, "y": y})
    serial = np.zeros(len(order), dtype=np.int64)
    for _, rows in order.groupby("parent", sort=False).indices.items():  # one pass per community
        ranked = reading_order(order["x"].to_numpy()[rows], order["y"].to_numpy()[rows], row_height)
        serial[rows[ranked]] = np.arange(start, start + len(rows))
    return serial


def read_retired_codes(path) -> list[str]:
    """Grid codes retired earlier: the ``retired_codes`` layer that ``gridtools rebalance`` writes.

    Their serials are never handed out again (pass them to :func:`~gridtools.grids.redraw`
    as ``retired_codes``).

    Parameters
    ----------
    path : str or os.PathLike
        A GeoPackage written by ``gridtools partition`` or ``gridtools rebalance``.

    Returns
    -------
    list of str
        Empty when the file has no such layer, or cannot be listed (not a GeoPackage).

    Examples
    --------
    >>> read_retired_codes("grids.gpkg")   # doctest: +SKIP
    ['32050801904400300']
    """
    import pyogrio

    try:
        layers = pyogrio.list_layers(path)[:, 0]
    except Exception:
        return []
    if "retired_codes" not in layers:
        return []
    table = pyogrio.read_dataframe(path, layer="retired_codes", read_geometry=False)
    return table["grid_code"].astype(str).tolist()

"""Errors a user can act on.

Every exception raised for bad input derives from :class:`GridtoolsError`.  Its message names
the file, row or column at fault and says what to do; the CLI prints that message and exits
with a non-zero code, without a Python traceback.
"""

from __future__ import annotations

import sqlite3

from collections.abc import Iterable


class GridtoolsError(Exception):
    """Base class of all user-facing errors (bad input, impossible request)."""

    exit_code = 2


class BusyError(GridtoolsError, sqlite3.OperationalError):
    """Another program holds a database's write lock longer than the busy timeout; retry later.

    The CLI exits with 75 (EX_TEMPFAIL), a service answers 503 with ``Retry-After``.  It is still
    the ``sqlite3.OperationalError`` SQLite raised, for callers that catch that.
    """

    exit_code = 75


class InputError(GridtoolsError, ValueError):
    """A file, column or value cannot be used as given."""


class CRSError(InputError):
    """Coordinates have no CRS, the wrong CRS, or cannot be transformed."""


class ParameterError(InputError):
    """A parameter value outside what a function accepts (see :mod:`gridtools.validate`).

    Attributes
    ----------
    parameter : str or None
        The Python name of the parameter, so a front end can name its own flag instead.
    """

    def __init__(self, message: str, *, parameter: str | None = None):
        super().__init__(message)
        self.parameter = parameter


class InputWarning(UserWarning):
    """Input was used, but not all of it or not as given (rows skipped, geometries repaired).

    The CLI prints each as one ``warning:`` line; in Python it is an ordinary warning.
    """


class MissingDependencyError(GridtoolsError, ImportError):
    """An optional dependency is needed for this feature."""

    exit_code = 3


def describe_rows(index: Iterable, limit: int = 10) -> str:
    """Format row labels for an error message: ``"rows 3, 17, 25 (and 4 more)"``.

    Parameters
    ----------
    index : iterable
        Row labels (for CSV input these are 1-based data line numbers).
    limit : int
        How many labels to list before summarising the rest.

    Returns
    -------
    str

    Examples
    --------
    >>> describe_rows([3, 17])
    'rows 3, 17'
    """
    rows = list(index)
    if not rows:
        return "no rows"
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f" (and {len(rows) - limit} more)" if len(rows) > limit else ""
    word = "row" if len(rows) == 1 else "rows"
    return f"{word} {shown}{more}"


def rows_where(selection, index) -> str:
    """Name the selected rows of a table the way every gridtools message does.

    Rows are counted from 1 (the line a user sees in a spreadsheet or ``df.iloc[n - 1]``);
    when the table has its own index labels (not the default 0..n-1) they are listed too,
    so a user can find the rows either way.

    Parameters
    ----------
    selection : array-like of bool or int
        A boolean mask over the rows, or their 0-based positions.
    index : pandas.Index
        The table's index.

    Returns
    -------
    str

    Examples
    --------
    >>> import pandas as pd
    >>> rows_where([False, True, False, True], pd.RangeIndex(4))
    'rows 2, 4 (counting from 1)'
    >>> rows_where([2], pd.Index(["a", "b", "c"]))
    'row 3 (counting from 1; index label c)'
    """
    import numpy as np
    import pandas as pd

    selection = np.asarray(selection)
    positions = np.flatnonzero(selection) if selection.dtype == bool else selection.astype(int)
    text = describe_rows(positions + 1) + " (counting from 1"
    if not pd.Index(index).equals(pd.RangeIndex(len(index))):
        labels = [str(v) for v in pd.Index(index)[positions][:10]]
        word = "label" if len(positions) == 1 else "labels"
        text += f"; index {word} {', '.join(labels)}"
    return text + ")"


def missing_dependency(package: str, extra: str | None = None) -> MissingDependencyError:
    """Build the error raised when an optional package is not installed."""
    hint = f"pip install 'gridtools[{extra}]'" if extra else f"pip install {package}"
    return MissingDependencyError(f"This feature needs the '{package}' package: {hint}")

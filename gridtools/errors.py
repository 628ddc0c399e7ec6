"""Errors a user can act on.

Every exception raised for bad input derives from :class:`GridtoolsError`.  Its message names
the file, row or column at fault and says what to do; the CLI prints that message and exits
with a non-zero code, without a Python traceback.
"""

from __future__ import annotations

from collections.abc import Iterable


class GridtoolsError(Exception):
    """Base class of all user-facing errors (bad input, impossible request)."""

    exit_code = 2


class InputError(GridtoolsError, ValueError):
    """A file, column or value cannot be used as given."""


class CRSError(InputError):
    """Coordinates have no CRS, the wrong CRS, or cannot be transformed."""


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


def missing_dependency(package: str, extra: str | None = None) -> MissingDependencyError:
    """Build the error raised when an optional package is not installed."""
    hint = f"pip install 'gridtools[{extra}]'" if extra else f"pip install {package}"
    return MissingDependencyError(f"This feature needs the '{package}' package: {hint}")

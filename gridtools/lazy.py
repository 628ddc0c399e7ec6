"""Lazy re-exports for package ``__init__`` files (PEP 562), so ``import gridtools`` stays cheap.

``gridtools.partition`` pulls in METIS, scipy and networkx; a command that only geocodes should
not pay for them at start-up.  A package lists what it re-exports and from where; each name is
imported on first use.
"""

from __future__ import annotations

import importlib
import sys

__all__ = ["attach"]


def attach(package: str, names: dict[str, str]):
    """``(__getattr__, __dir__)`` for a package that re-exports *names* lazily.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    names : dict
        ``{exported name: module it comes from}``.

    Returns
    -------
    tuple of callables
        Assign them to the package's ``__getattr__`` and ``__dir__``.

    Examples
    --------
    >>> getattr_, dir_ = attach("demo", {"sqrt": "math"})
    >>> getattr_("sqrt")(9.0)
    3.0
    """

    def __getattr__(name: str):
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(names[name]), name)

    def __dir__():
        return sorted(set(names) | set(vars(sys.modules[package])))

    return __getattr__, __dir__

"""The parameters a set of grids was made with, carried by the grids themselves.

A partition made for an 800-1,200 band must be mapped and reported against 800-1,200, not against
whatever band the reader's defaults say.  :func:`partition` and :func:`rebalance` put their
parameters (band, population column, nesting column, code prefix, seed) in
``grids.attrs["gridtools"]``; :func:`gridtools.io.write_any` stores them as the GeoPackage layer's
metadata and :func:`gridtools.io.read_any` reads them back, so ``gridtools map`` and
``gridtools report partition`` see them.  :func:`band_of` is how a reader picks the band:
explicit values first, then the grids' own parameters, then the settings.

Examples
--------
>>> import geopandas as gpd
>>> grids = gpd.GeoDataFrame({"population": [1000.0]}, geometry=gpd.points_from_xy([0], [0]), crs=4326)
>>> grids = attach_params(grids, command="partition", min_pop=800, max_pop=1200)
>>> band_of(grids)
(800.0, 1200.0)
>>> band_of(grids, max_pop=1500)
(800.0, 1500.0)
"""

from __future__ import annotations

import pandas as pd

from gridtools import settings
from gridtools.errors import InputError
from gridtools.io.formats import PARAMS_ATTR

__all__ = ["PARAMS_ATTR", "attach_params", "params_of", "band_of"]


def attach_params(frame: pd.DataFrame, **params) -> pd.DataFrame:
    """``frame`` with ``params`` in ``frame.attrs["gridtools"]``; returned for chaining.

    Parameters
    ----------
    frame : pandas.DataFrame or geopandas.GeoDataFrame
        Changed in place (only its ``attrs``).
    **params
        JSON values: numbers, text, None.

    Returns
    -------
    pandas.DataFrame
        ``frame`` itself.

    Examples
    --------
    >>> attach_params(pd.DataFrame(), min_pop=800).attrs["gridtools"]["min_pop"]
    800
    """
    frame.attrs[PARAMS_ATTR] = dict(params)
    return frame


def params_of(frame: pd.DataFrame) -> dict:
    """The parameters ``frame`` was made with (empty when it carries none, e.g. grids drawn by hand).

    Examples
    --------
    >>> params_of(pd.DataFrame())
    {}
    """
    params = frame.attrs.get(PARAMS_ATTR)
    return dict(params) if isinstance(params, dict) else {}


def band_of(grids: pd.DataFrame, min_pop: float | None = None, max_pop: float | None = None) -> tuple[float, float]:
    """The population band to judge ``grids`` by: explicit values, else the grids' own, else the settings.

    Parameters
    ----------
    grids : pandas.DataFrame or geopandas.GeoDataFrame
        Grids, possibly carrying the parameters of the partition that made them.
    min_pop, max_pop : float, optional
        Explicit band edges; each overrides the stored one.

    Returns
    -------
    tuple of float
        ``(min_pop, max_pop)``.

    Raises
    ------
    InputError
        If the band is inverted.

    Examples
    --------
    >>> band_of(pd.DataFrame(), 900, 1300)
    (900.0, 1300.0)
    """
    stored = params_of(grids)
    lo = min_pop if min_pop is not None else stored.get("min_pop", settings.min_pop)
    hi = max_pop if max_pop is not None else stored.get("max_pop", settings.max_pop)
    lo, hi = float(lo), float(hi)
    if lo > hi:
        raise InputError(f"min_pop ({lo:g}) is larger than max_pop ({hi:g}); swap them.")
    return lo, hi

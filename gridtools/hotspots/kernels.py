"""Counts and kernels on the raster behind a :class:`~gridtools.hotspots.cells.CellSet`, shared by the estimators."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from gridtools import settings
from gridtools.hotspots.cells import CellSet
from gridtools.hotspots.events import EventSet

__all__ = ["counts", "raster", "gauss", "smoothed_counts"]


def counts(ev: EventSet, n: int, start: float = -np.inf, end: float = np.inf) -> np.ndarray:
    """Events per unit with ``start <= t < end`` (floats, length *n*)."""
    return np.bincount(ev.between(start, end).unit, minlength=n).astype(float)


def raster(ev: EventSet, cells: CellSet, weights=None) -> np.ndarray:
    """Events (or their *weights*) per raster pixel, as an ``ny x nx`` array."""
    flat = np.bincount(ev.pixel, weights=weights, minlength=cells.nx * cells.ny)
    return flat.reshape(cells.ny, cells.nx).astype(float)


def gauss(raster: np.ndarray, sigma_px: float) -> np.ndarray:
    """A raster smoothed by a Gaussian of *sigma_px* pixels, cut at 3 sigma."""
    # Mass leaving the raster is lost, as for a kernel cut at the edge of the study area.
    return ndimage.gaussian_filter(raster, sigma=sigma_px, mode="constant", truncate=3.0)


def smoothed_counts(ev: EventSet, cells: CellSet, c: float, prior_weight: float, bandwidth: float | None,
                     half_life_days: float | None) -> np.ndarray:
    """Each cell's count shrunk towards the Gaussian-smoothed count of its neighbourhood."""
    weights = None if half_life_days is None else np.exp2(-(c - ev.t) / half_life_days)
    own = np.bincount(ev.unit, weights=weights, minlength=len(cells)).astype(float)
    if bandwidth is None:  # two cells; for management grids, two default-sized cells
        bandwidth = 2.0 * (cells.pixel if cells.kind == "square" else settings.hotspot_cell_m)
    sigma_px = bandwidth / cells.pixel
    near = cells.to_units(gauss(raster(ev, cells, weights), sigma_px))
    return (own + prior_weight * near) / (1.0 + prior_weight)



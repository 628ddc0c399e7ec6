"""What :class:`gridtools.hotspots.estimators.GBM` learns from: per-cell features at an origin,
their quantile bins, and the models of refit dates kept in this process.

Features are plain functions of the events before an origin (lagged, exponentially weighted,
near-repeat and seasonal counts), so the features of an origin are the same whichever later
cutoff asks for them; this is what lets a model trained at a refit date serve later cutoffs.
"""

from __future__ import annotations

import numpy as np

from gridtools.hotspots.cells import CellSet
from gridtools.hotspots.events import EventSet
from gridtools.hotspots.kernels import counts, gauss, raster, smoothed_counts

__all__ = ["FEATURES", "KEEP_MODELS", "MODELS", "bin_codes", "features", "fingerprint", "quantile_edges"]

#: Models of refit dates kept in this process (``GBM(refit_days=...)``), oldest dropped first.
MODELS: dict = {}
KEEP_MODELS = 8


def fingerprint(ev: EventSet, cells: CellSet, cov) -> str:
    """A digest of what a model is trained on: the events' times and cells, the cells, the covariates."""
    import hashlib

    digest = hashlib.blake2b(digest_size=16)
    for part in (ev.t, ev.unit, cells.area, cov if cov is not None else np.zeros(0)):
        digest.update(np.ascontiguousarray(part).tobytes())
    return digest.hexdigest()


def quantile_edges(X: np.ndarray, max_bins: int = 255) -> list[np.ndarray]:
    """Per column, the distinct unweighted quantiles that cut it into at most *max_bins* bins."""
    qs = np.quantile(X, np.linspace(0, 1, max_bins + 1)[1:-1], axis=0)
    return [np.unique(qs[:, j]) for j in range(X.shape[1])]


def bin_codes(X: np.ndarray, edges: list[np.ndarray]) -> np.ndarray:
    """Each value replaced by the number of its column's edges at or below it (its bin)."""
    return np.column_stack([np.searchsorted(e, X[:, j], side="right") for j, e in enumerate(edges)]).astype(float)


FEATURES = (
    "n7", "n28", "n91", "n365", "n730", "rate_all", "season", "since_last", "ew90", "ew365",
    "nb7", "nb28", "nb365_s1", "nb365_s3", "nball_s1", "area_km2", "doy_sin", "doy_cos",
)


def features(ev: EventSet, cells: CellSet, o: float, h: float, cov=None):
    """Feature matrix (cells x FEATURES [+ covariates]) at origin *o*, the cells with history, and
    the baseline expected count over *h* days (long-term rate, lightly smoothed)."""
    n = len(cells)
    hist = ev.before(o)
    cols = [counts(hist, n, o - d, o) for d in (7, 28, 91, 365, 730)]
    everything = counts(hist, n)
    cols.append(everything / max(o - ev.t[0], 1.0) * 365.0)
    cols.append(counts(hist, n, o - 365 - 14, o - 365 + h + 14))
    last = np.full(n, -np.inf)
    np.maximum.at(last, hist.unit, hist.t)
    cols.append(np.minimum(o - last, 3650.0))
    for half_life in (90.0, 365.0):  # exponentially weighted counts: recency without a hard window
        w = np.exp2(-(o - hist.t) / half_life)
        cols.append(np.bincount(hist.unit, weights=w, minlength=n))
    km2 = np.maximum(cells.area / 1e6, 1e-9)
    pixel_cells = 1.0 / (cells.pixel**2 / 1e6)
    for days, sigma_m in ((7, 1.0), (28, 1.0), (365, 1.0), (365, 3.0), (None, 1.0)):
        r = raster(hist if days is None else hist.between(o - days, o), cells)
        sm = gauss(r, sigma_m * max(200.0 / cells.pixel, 1.0))
        cols.append(cells.to_units(sm) / km2 / pixel_cells)
    cols.append(km2)
    doy = 2 * np.pi * ((o % 365.25) / 365.25)
    cols += [np.full(n, np.sin(doy)), np.full(n, np.cos(doy))]
    X = np.column_stack(cols)
    if cov is not None:
        X = np.column_stack([X, cov])
    # the baseline is SmoothedRate's default: the trees learn the departures from it
    smoothed = smoothed_counts(hist, cells, o, prior_weight=1.0, bandwidth=None, half_life_days=None)
    base = (smoothed + 0.02) / max(o - ev.t[0], 1.0) * h
    return X, everything > 0, base

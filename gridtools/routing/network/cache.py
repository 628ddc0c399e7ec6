"""The on-disk cache of parsed road networks.

A network is stored as one folder: ``network.npz`` (the arrays), one Parquet file per table and
``meta.json`` (CRS, source).  The folder name carries a hash of the file's path, size and
modification time, the layout version and the load options, so a changed file or option is
parsed again, never read from a stale cache.  Folders are written under a temporary name and
renamed when complete, so a crash never leaves a half-written cache behind.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj

from gridtools.routing.network.roadnetwork import ARRAY_FIELDS, TABLE_FIELDS, RoadNetwork

#: Bump when the cached layout changes so stale caches are rebuilt.
CACHE_VERSION = 6  # 6: hazmat and tunnel-category tags kept


def cache_folder(path: Path, *, crs=None, columns: dict | None = None, cache_dir=None) -> Path:
    """Cache folder of a road network file: ``<cache_dir>/routing/<file name>-<hash>``.

    Parameters
    ----------
    path : pathlib.Path
        An existing road network file.
    crs, columns
        The options of :func:`~gridtools.routing.load_network` that change the result.
    cache_dir : path, optional
        Default ``gridtools.settings.cache_dir``.

    Returns
    -------
    pathlib.Path
        The folder (it may not exist yet).

    Examples
    --------
    >>> cache_folder(Path("bus.osm.pbf")).name                  # doctest: +SKIP
    'bus.osm.pbf-3f9c2a1d0b7e4c55'
    """
    from gridtools import settings

    stat = path.stat()
    key = hashlib.sha1(json.dumps([str(path.resolve()), stat.st_size, stat.st_mtime_ns, CACHE_VERSION,
                                   str(crs), sorted((columns or {}).items())]).encode()).hexdigest()[:16]
    return Path(cache_dir or settings.cache_dir) / "routing" / f"{path.name}-{key}"


def write_cache(net: RoadNetwork, folder: Path) -> None:
    """Write ``net`` to ``folder`` (replacing it atomically) and set ``net.cache_path``.

    Parameters
    ----------
    net : RoadNetwork
    folder : pathlib.Path
        Usually :func:`cache_folder` of the file the network was read from.

    Examples
    --------
    >>> write_cache(net, tmp_path / "city")                     # doctest: +SKIP
    """
    import shutil
    import tempfile

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
    np.savez(tmp / "network.npz", **{k: getattr(net, k) for k in ARRAY_FIELDS})
    for table in TABLE_FIELDS:
        _to_parquet(getattr(net, table), tmp / f"{table}.parquet")
    (tmp / "meta.json").write_text(json.dumps({"crs": net.crs.to_wkt(), "source": net.source}))
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    net.cache_path = folder


def read_cache(folder: Path) -> RoadNetwork:
    """Read a network written by :func:`write_cache`.

    Parameters
    ----------
    folder : pathlib.Path

    Returns
    -------
    RoadNetwork
        With ``cache_path`` set to ``folder`` (the router keeps its contraction order there).

    Examples
    --------
    >>> net = read_cache(tmp_path / "city")                     # doctest: +SKIP
    """
    folder = Path(folder)
    arrays = np.load(folder / "network.npz")
    tables = {t: pd.read_parquet(folder / f"{t}.parquet") for t in TABLE_FIELDS}
    meta = json.loads((folder / "meta.json").read_text())
    return RoadNetwork(**{k: arrays[k] for k in ARRAY_FIELDS}, **tables, crs=pyproj.CRS.from_wkt(meta["crs"]),
                       source=meta["source"], cache_path=folder)


def _to_parquet(df: pd.DataFrame, path: Path) -> None:
    # tag columns mix strings with None/NaN (and the odd number): store them as text or null
    df = df.copy()
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = df[col].map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
    df.to_parquet(path)

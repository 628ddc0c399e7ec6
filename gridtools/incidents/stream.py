"""Geocode files of any size: chunked CSV, partitioned Parquet / GeoParquet datasets, Dask.

:func:`geocode_dataset` never holds more than one chunk per worker: the grids are prepared once
(:func:`gridtools.incidents.locate.prepare_grids`) and shipped once per worker; each task reads
its chunk (a Parquet file or row group, or a block of CSV rows), geocodes it and writes its own
output part.  Output keeps every input column and row order:

* a folder (``out/``, or no suffix): a partitioned Parquet dataset ``part-00000.parquet``, ...
  (GeoParquet when the events are point geometries), one part per input chunk, in input order;
* ``.csv`` / ``.tsv``: one text table, chunks appended in order;
* ``.parquet``: one Parquet file, one row group per chunk.

Inputs: a ``.csv``/``.tsv`` file (read in blocks by Arrow, every cell as text), a Parquet or
GeoParquet file, or a folder of them (a dataset).  On a cluster, Parquet parts are read and
written by the workers themselves, so input and output must be on storage every worker sees
(a shared disk, or the same path on one machine for ``local:N``); CSV blocks are read here and
sent to the workers.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gridtools import parallel
from gridtools.errors import CRSError, InputError
from gridtools.incidents.locate import GeocodeResult, PreparedGrids, geocode_prepared

__all__ = ["CHUNK_ROWS", "DatasetResult", "geocode_dataset"]

#: Rows per chunk of a CSV file or Parquet part (memory per worker ~ 0.5 KB x chunk).
CHUNK_ROWS = 1_000_000


@dataclass
class DatasetResult:
    """What :func:`geocode_dataset` wrote, with the summary of every chunk added up."""

    output: Path
    parts: int
    summary: dict

    def summary_lines(self) -> list[str]:
        lines = GeocodeResult(pd.DataFrame(), self.summary).summary_lines()
        return lines + [f"{self.parts:,} chunk(s) on {self.summary['ran_on']}"]


@dataclass(frozen=True)
class _Part:
    """One task: rows of an input file (a Parquet row-group range) or a block of CSV rows."""

    number: int
    path: str | None = None
    row_groups: tuple[int, ...] | None = None
    table: pd.DataFrame | None = None


def geocode_dataset(source, grids: PreparedGrids, output, *, lon: str | None = None, lat: str | None = None,
                    crs=None, chunk_rows: int = CHUNK_ROWS, scheduler=None, n_jobs: int | None = None,
                    progress=None) -> DatasetResult:
    """Geocode a large table or dataset chunk by chunk, here or on a Dask cluster.

    Parameters
    ----------
    source : str or os.PathLike
        A CSV/TSV file, a Parquet/GeoParquet file, or a folder of Parquet files.
    grids : PreparedGrids
        From :func:`gridtools.incidents.prepare_grids`.
    output : str or os.PathLike
        A folder (partitioned Parquet dataset), a ``.csv``/``.tsv`` file or a ``.parquet`` file.
    lon, lat, crs
        As in :func:`gridtools.incidents.geocode` (detected from the column names if omitted).
    chunk_rows : int
        Rows per chunk (CSV blocks; Parquet parts are split by row groups to about this size).
    scheduler : None, str or dask.distributed.Client
        Where chunks run (see :mod:`gridtools.parallel`): ``"local:2"``, ``"tcp://host:8786"``.
    n_jobs : int, optional
        Local worker processes when no scheduler is given.
    progress : callable, optional
        ``progress(done, total)`` per finished chunk.

    Returns
    -------
    DatasetResult

    Raises
    ------
    InputError
        A missing source, an unsupported format, an output that exists and is not empty.
    CRSError
        No event of the whole dataset lands in a grid.

    Examples
    --------
    >>> grids = prepare_grids(io.read_any("grids.gpkg", layer="grids"))         # doctest: +SKIP
    >>> geocode_dataset("events/", grids, "located/", scheduler="local:2")      # doctest: +SKIP
    DatasetResult(output=PosixPath('located'), parts=100, summary={...})
    """
    source, output = Path(source).expanduser(), Path(output).expanduser()
    if not source.exists():
        raise InputError(f"file not found: {source}")
    if output.exists() and (output.is_file() or any(output.iterdir())):
        raise InputError(f"{output} already exists; give a new output path (nothing is overwritten).")
    kind = _output_kind(output)
    staging = Path(tempfile.mkdtemp(prefix=".geocode-", dir=output.parent if output.parent.exists() else None))
    try:
        options = {"grids": grids, "options": {"lon": lon, "lat": lat, "crs": crs, "staging": str(staging),
                                               "source": str(source)}}
        summaries = []
        # CSV blocks are read here: a window of them at a time keeps memory bounded
        window = 1 if not (scheduler or (n_jobs or 1) > 1) else max(n_jobs or 0, 4)
        with parallel.dask_client(scheduler) as client:
            for parts in _windows(_plan(source, chunk_rows), window):
                summaries += parallel.map_tasks(_geocode_part, parts, scheduler=client, n_jobs=n_jobs,
                                                shared=options, progress=_after(progress, len(summaries)))
        summary = _add_up(summaries, parallel.describe(scheduler) if scheduler else
                          ("this process" if not n_jobs or n_jobs == 1 else f"{n_jobs} processes"))
        if summary["rows"] and summary["located"] == 0 and summary["rows"] > sum(summary["bad"].values()):
            raise CRSError(
                f"none of the {summary['rows']:,} events of {source} falls in any of the {len(grids):,} grids "
                f"of {grids.source}. Check the coordinate columns (lon=..., lat=...) and their CRS (crs=...).")
        _assemble(staging, output, kind, len(summaries))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return DatasetResult(output, len(summaries), summary)


def _output_kind(output: Path) -> str:
    suffix = output.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    if suffix in (".parquet", ".geoparquet"):
        return "parquet"
    if suffix:
        raise InputError(f"{output}: write a folder (partitioned Parquet), a .csv/.tsv or a .parquet file.")
    return "dataset"


def _after(progress, base: int):
    """*progress* counting on from the chunks of earlier windows (the total is not known ahead)."""
    if progress is None:
        return None
    return lambda done, _total: progress(base + done, None)


def _windows(parts, size: int):
    """Parquet parts (descriptors) in one window; CSV blocks (data) *size* at a time."""
    batch = []
    for part in parts:
        batch.append(part)
        if part.table is not None and len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _plan(source: Path, chunk_rows: int):
    """The chunks of *source*: Parquet row-group ranges, or blocks of CSV rows read here."""
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.suffix.lower() in (".parquet", ".geoparquet", ".pq"))
        if not files:
            raise InputError(f"{source} holds no .parquet files.")
        return _parquet_parts(files, chunk_rows)
    suffix = source.suffix.lower()
    if suffix in (".parquet", ".geoparquet", ".pq"):
        return _parquet_parts([source], chunk_rows)
    if suffix in (".csv", ".tsv", ".txt"):
        return (_Part(i, table=t) for i, t in enumerate(_csv_blocks(source, chunk_rows)))
    raise InputError(f"{source}: geocode reads CSV/TSV, Parquet / GeoParquet files or folders of Parquet files.")


def _parquet_parts(files: list[Path], chunk_rows: int) -> list[_Part]:
    import pyarrow.parquet as pq

    parts = []
    for path in files:
        meta = pq.ParquetFile(path).metadata
        group, rows = [], 0
        for g in range(meta.num_row_groups):
            group.append(g)
            rows += meta.row_group(g).num_rows
            if rows >= chunk_rows:
                parts.append(_Part(len(parts), str(path), tuple(group)))
                group, rows = [], 0
        if group or not meta.num_row_groups:
            parts.append(_Part(len(parts), str(path), tuple(group)))
    return parts


def _csv_blocks(path: Path, chunk_rows: int):
    """Blocks of about *chunk_rows* rows of a text table, every cell as text."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from gridtools.io import read_text_table

    with open(path, "rb") as f:
        header = f.readline().decode("utf-8-sig", errors="replace")
    sep = "\t" if "\t" in header and "," not in header else ","
    names = [n.strip().strip('"') for n in header.rstrip("\r\n").split(sep)]
    try:
        reader = pacsv.open_csv(
            path, read_options=pacsv.ReadOptions(block_size=16 << 20),
            parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                                 strings_can_be_null=False))
    except (pa.ArrowInvalid, OSError):
        yield read_text_table(path)  # gzip, GB18030, odd headers: the careful reader, whole file
        return
    pending, rows, blocks = [], 0, 0
    for batch in reader:
        pending.append(batch)
        rows += batch.num_rows
        while rows >= chunk_rows:
            table = pa.Table.from_batches(pending, schema=reader.schema)
            yield table.slice(0, chunk_rows).to_pandas()
            blocks += 1
            rest = table.slice(chunk_rows)
            pending, rows = rest.to_batches(), rest.num_rows
    if rows or not blocks:
        yield pa.Table.from_batches(pending, schema=reader.schema).to_pandas()


def _read_part(part: _Part) -> pd.DataFrame:
    if part.table is not None:
        return part.table
    import pyarrow.parquet as pq

    handle = pq.ParquetFile(part.path)
    table = handle.read_row_groups(list(part.row_groups)) if part.row_groups else handle.schema_arrow.empty_table()
    if b"geo" in (table.schema.metadata or {}):  # GeoParquet: point geometries with their CRS
        import geopandas as gpd

        return gpd.GeoDataFrame.from_arrow(table)
    return table.to_pandas()


def _geocode_part(part: _Part, grids: PreparedGrids, options: dict) -> dict:
    """Geocode one chunk and write it to the staging folder; its summary."""
    events = _read_part(part)
    events.attrs["source"] = f"{options['source']} (chunk {part.number + 1})"
    result = geocode_prepared(events, grids, lon=options["lon"], lat=options["lat"], crs=options["crs"],
                              require_located=False)
    out = Path(options["staging"]) / f"part-{part.number:05d}.parquet"
    table = result.table
    if hasattr(table, "geometry") and "geometry" in table.columns:
        table.to_parquet(out, index=False)
    else:
        pd.DataFrame(table).to_parquet(out, index=False)
    return result.summary


def _add_up(summaries: list[dict], ran_on: str) -> dict:
    total = {"rows": 0, "located": 0, "outside_grids": 0, "ties": 0, "bad": {}}
    for s in summaries:
        for key in ("rows", "located", "outside_grids", "ties"):
            total[key] += s[key]
        for kind, n in s["bad"].items():
            total["bad"][kind] = total["bad"].get(kind, 0) + n
    total["share_located"] = total["located"] / total["rows"] if total["rows"] else 0.0
    total["grids"] = summaries[0]["grids"] if summaries else 0
    total["crs"] = summaries[0]["crs"] if summaries else ""
    total["ran_on"] = ran_on
    return total


def _assemble(staging: Path, output: Path, kind: str, parts: int) -> None:
    """Move the staged parts into place as a dataset, or join them into one file in order."""
    files = [staging / f"part-{i:05d}.parquet" for i in range(parts)]
    if kind == "dataset":
        output.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.move(str(f), output / f.name)
        return
    import pyarrow.parquet as pq

    output.parent.mkdir(parents=True, exist_ok=True)
    target = staging / ("joined" + output.suffix)
    if kind == "parquet":
        writer = None
        for f in files:
            table = pq.read_table(f)
            writer = writer or pq.ParquetWriter(target, table.schema)
            writer.write_table(table)
        if writer:
            writer.close()
    else:
        import pyarrow.csv as pacsv

        sep = "\t" if output.suffix.lower() == ".tsv" else ","
        with open(target, "wb") as sink:
            for i, f in enumerate(files):
                table = pq.read_table(f)
                table = table.drop_columns([c for c in table.column_names if c == "geometry"])
                _write_csv_block(table, sink, sep, header=i == 0, pacsv=pacsv)
    shutil.move(str(target), output)


def _write_csv_block(table, sink, sep: str, header: bool, pacsv) -> None:
    import pyarrow as pa

    for style in ("none", "needed"):  # minimal quoting where no value needs quotes
        try:
            buffer = pa.BufferOutputStream()
            pacsv.write_csv(table, buffer, write_options=pacsv.WriteOptions(
                include_header=header, delimiter=sep, quoting_style=style, quoting_header="none"))
            sink.write(buffer.getvalue().to_pybytes())
            return
        except pa.ArrowInvalid:
            continue

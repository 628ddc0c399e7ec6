"""Tables kept as text (rewrite a few columns, leave every other byte alone), and YAML/JSON files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd

from gridtools.errors import InputError
from gridtools.io.formats import READ_ERRORS, file_suffix, reason
from gridtools.io.write import staged_file

__all__ = ["read_text_table", "write_text_table", "read_mapping"]

def read_text_table(path) -> pd.DataFrame:
    """Read a CSV/TSV table with every cell as text, exactly as written in the file.

    Nothing is parsed: ``"007"`` stays ``"007"``, empty cells stay ``""`` (not NaN), so a table
    written back with :func:`write_text_table` differs only where a caller changed cells.  The
    encoding (UTF-8 with or without byte-order mark, or GB18030), delimiter and line ending
    are remembered in ``df.attrs["text_format"]``.

    Parameters
    ----------
    path : str or os.PathLike
        ``.csv``, ``.tsv``, ``.txt`` (optionally ``.gz``).

    Returns
    -------
    pandas.DataFrame
        Object columns of str; ``attrs["source"]`` is the path.

    Raises
    ------
    InputError
        Missing, empty (no header) or unreadable file.

    Examples
    --------
    >>> t = read_text_table("events.csv")        # doctest: +SKIP
    >>> write_text_table(t, "copy.csv")          # doctest: +SKIP
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"file not found: {path}")
    table = _read_with_arrow(path)
    return table if table is not None else _read_with_pandas(path)


def _head_format(path: Path, head: bytes, tail: bytes) -> dict:
    """Encoding, delimiter and line ending of a UTF-8 text table from its first and last bytes."""
    suffix = file_suffix(path)
    text = head.decode("utf-8", errors="ignore")
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    sep = "\t" if suffix.startswith(".tsv") or ("\t" in first and "," not in first) else ","
    if suffix.startswith(".txt") and ";" in first and "," not in first and "\t" not in first:
        sep = ";"
    return {
        "encoding": "utf-8",
        "bom": text.startswith("\ufeff"),
        "sep": sep,
        "newline": "\r\n" if "\r\n" in text else "\n",
        "trailing_newline": tail.endswith((b"\n", b"\r")),
    }


def _read_with_arrow(path: Path) -> pd.DataFrame | None:
    """The table read by Arrow's multi-threaded CSV reader (every column as text), or None.

    None means "let pandas read it": gzip files, GB18030 text, duplicate or empty column names,
    ragged rows - the pandas reader names those problems in its messages or handles them (it
    renames duplicate columns), and they are rare in large files where speed matters.
    """
    import csv

    import pyarrow as pa
    import pyarrow.csv as pacsv

    if file_suffix(path).endswith(".gz"):
        return None
    with open(path, "rb") as f:
        head = f.read(65536)
        f.seek(max(0, path.stat().st_size - 2))
        tail = f.read()
    if not head.strip():
        raise InputError(f"{path} is empty: it has no header line and no data rows.")
    fmt = _head_format(path, head, tail)
    try:
        header = head.decode("utf-8-sig").splitlines()[0]
    except (UnicodeDecodeError, IndexError):
        return None
    names = next(csv.reader([header], delimiter=fmt["sep"]), [])
    if not names or len(set(names)) != len(names) or "" in names:
        return None
    try:
        table = pacsv.read_csv(
            path,
            parse_options=pacsv.ParseOptions(delimiter=fmt["sep"], newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names}, strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    if table.column_names != names:
        return None
    frame = table.to_pandas()
    frame.attrs["source"] = str(path)
    frame.attrs["text_format"] = fmt
    return frame


def _read_with_pandas(path: Path) -> pd.DataFrame:
    suffix = file_suffix(path)
    opener = gzip.open if suffix.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if not raw.strip():
        raise InputError(f"{path} is empty: it has no header line and no data rows.")
    for encoding in ("utf-8", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InputError(f"cannot read {path}: it is neither UTF-8 nor GB18030 text; save it as UTF-8.")
    bom = text.startswith("\ufeff")
    newline = "\r\n" if "\r\n" in text[:65536] else "\n"
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    sep = "\t" if suffix.startswith(".tsv") or ("\t" in first and "," not in first) else ","
    if suffix.startswith(".txt") and ";" in first and "," not in first and "\t" not in first:
        sep = ";"
    try:
        table = pd.read_csv(
            path,
            sep=sep,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding="utf-8-sig" if encoding == "utf-8" else encoding,
        )
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{path} is empty: it has no header line and no data rows.") from exc
    except (pd.errors.ParserError, *READ_ERRORS) as exc:
        raise InputError(f"cannot read {path} as a table: {reason(exc)}.") from exc
    table.attrs["source"] = str(path)
    table.attrs["text_format"] = {
        "encoding": encoding,
        "bom": bom,
        "sep": sep,
        "newline": newline,
        "trailing_newline": text.endswith(("\n", "\r")),
    }
    return table


def write_text_table(table: pd.DataFrame, path, *, like: dict | None = None) -> Path:
    """Write a table read by :func:`read_text_table` back in the same encoding and layout.

    Parameters
    ----------
    table : pandas.DataFrame
    path : str or os.PathLike
        Output file (``.csv``/``.tsv``/``.txt``, optionally ``.gz``); written atomically.
    like : dict, optional
        Format to copy (default: ``table.attrs["text_format"]``, else UTF-8, comma, ``\\n``).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> write_text_table(t, "out.csv")           # doctest: +SKIP
    """
    path = Path(path).expanduser()
    fmt = {"encoding": "utf-8", "bom": False, "sep": ",", "newline": "\n", "trailing_newline": True}
    fmt.update(like or table.attrs.get("text_format", {}))
    path.parent.mkdir(parents=True, exist_ok=True)
    with staged_file(path, copy_existing=False) as staged:
        if not _write_with_arrow(table, staged, fmt, gz=file_suffix(path).endswith(".gz")):
            _write_with_pandas(table, staged, fmt, gz=file_suffix(path).endswith(".gz"))
    return path


def _write_with_arrow(table: pd.DataFrame, staged: Path, fmt: dict, gz: bool) -> bool:
    """Write a table of text columns with Arrow's CSV writer; False when pandas must write it.

    Arrow renders numbers and booleans differently from pandas (``1`` for ``1.0``, ``true``),
    so only tables whose every column is text go this way; values that need quotes also go to
    pandas, whose minimal quoting matches what :func:`read_text_table` read.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if gz or fmt["encoding"] != "utf-8" or not len(table.columns) or table.columns.duplicated().any():
        return False
    try:
        arrow = pa.Table.from_pandas(table, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError):
        return False
    if not all(_is_text_type(t) for t in arrow.schema.types):
        return False
    options = pacsv.WriteOptions(delimiter=fmt["sep"], eol=fmt["newline"], quoting_style="none",
                                 quoting_header="none")
    try:
        with open(staged, "wb") as f:
            if fmt["bom"]:
                f.write("\ufeff".encode())
            pacsv.write_csv(arrow, f, write_options=options)
            if not fmt["trailing_newline"]:
                f.truncate(f.tell() - len(fmt["newline"].encode()))
    except pa.ArrowInvalid:  # a value holds the delimiter, a quote or a line break
        return False
    return True


def _is_text_type(arrow_type) -> bool:
    """Text, or a dictionary of text (a categorical column such as geocode's codes)."""
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


def _write_with_pandas(table: pd.DataFrame, staged: Path, fmt: dict, gz: bool) -> None:
    text = table.to_csv(index=False, sep=fmt["sep"], lineterminator=fmt["newline"])
    if not fmt["trailing_newline"] and text.endswith(fmt["newline"]):
        text = text[: -len(fmt["newline"])]
    data = (("\ufeff" if fmt["bom"] else "") + text).encode(fmt["encoding"])
    if gz:
        with gzip.open(staged, "wb") as f:
            f.write(data)
    else:
        staged.write_bytes(data)


def read_mapping(path, *, what: str = "file") -> dict:
    """Read a YAML (``.yaml``/``.yml``) or JSON file into plain Python data.

    Parameters
    ----------
    path : str or os.PathLike
    what : str
        What the file is, for messages (``"park file"``).

    Returns
    -------
    dict or list
        As the file holds it.

    Raises
    ------
    InputError
        A missing or unparseable file; the parser's message names the line.

    Examples
    --------
    >>> read_mapping("park.yaml", what="park file")   # doctest: +SKIP
    {'name': 'Huangwan', 'gates': [...], ...}
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"{what} {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml  # only park files need it

            return yaml.safe_load(text)
        return json.loads(text)
    except Exception as exc:  # the parsers' own messages name the line
        raise InputError(f"cannot read the {what} {path}: {exc}") from None

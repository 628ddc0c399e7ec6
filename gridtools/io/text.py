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
    text = table.to_csv(index=False, sep=fmt["sep"], lineterminator=fmt["newline"])
    if not fmt["trailing_newline"] and text.endswith(fmt["newline"]):
        text = text[: -len(fmt["newline"])]
    data = (("\ufeff" if fmt["bom"] else "") + text).encode(fmt["encoding"])
    path.parent.mkdir(parents=True, exist_ok=True)
    with staged_file(path, copy_existing=False) as staged:
        if file_suffix(path).endswith(".gz"):
            with gzip.open(staged, "wb") as f:
                f.write(data)
        else:
            staged.write_bytes(data)
    return path


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

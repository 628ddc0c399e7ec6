"""16-digit component codes: 6-digit county code + 2-digit major class + 2-digit subclass + 6-digit serial.

Example: ``3205080101000001`` is Gusu district (320508), 01 public utilities, 01 water supply
manhole cover, serial 000001.  Serials count per (county, class) from 1 and are never reused:
a retired component keeps its code.
"""

from __future__ import annotations

import numpy as np

from gridtools.errors import InputError

__all__ = ["SERIAL_DIGITS", "MAX_SERIAL", "make_codes", "parse_code", "check_admin_code", "admin_code_from_grids"]

SERIAL_DIGITS = 6
MAX_SERIAL = 10**SERIAL_DIGITS - 1


def check_admin_code(admin_code) -> str:
    """Return the 6-digit county code (GB/T 2260) as text, or raise.

    Examples
    --------
    >>> check_admin_code(320508)
    '320508'
    """
    text = str(admin_code).strip()
    if not (len(text) == 6 and text.isdigit()):
        raise InputError(f"the administrative code must be the 6-digit county code (GB/T 2260), e.g. 320508; "
                         f"got {admin_code!r}; pass e.g. admin_code='320508'")
    return text


def admin_code_from_grids(grids, grid_col: str = "grid_code") -> str:
    """The county code every grid code starts with: their shared first 6 digits.

    Parameters
    ----------
    grids : pandas.DataFrame
        Grids with codes that start with the 6-digit county code (as ``gridtools partition``
        writes them).
    grid_col : str
        Column of the grid codes.

    Returns
    -------
    str

    Raises
    ------
    InputError
        The grid codes do not share one 6-digit prefix.

    Examples
    --------
    >>> import pandas as pd
    >>> admin_code_from_grids(pd.DataFrame({"grid_code": ["32050801904400100", "32050801904400200"]}))
    '320508'
    """
    prefixes = grids[grid_col].astype(str).str[:6].unique()
    if len(prefixes) == 1 and prefixes[0].isdigit() and len(prefixes[0]) == 6:
        return prefixes[0]
    raise InputError("give the 6-digit county code with admin_code=... (e.g. 320508); it could not be taken "
                     f"from the grid codes (their first 6 digits are {', '.join(map(str, prefixes[:5]))})")


def make_codes(admin_code: str, class_codes, serials) -> np.ndarray:
    """Build 16-digit codes.

    Parameters
    ----------
    admin_code : str
        6-digit county code.
    class_codes : array-like of str
        4-digit class codes.
    serials : array-like of int
        Serials 1..999999.

    Examples
    --------
    >>> make_codes("320508", ["0101", "0118"], [1, 42]).tolist()
    ['3205080101000001', '3205080118000042']
    """
    admin = check_admin_code(admin_code)
    serials = np.asarray(serials, dtype=np.int64)
    if serials.size and (serials.min() < 1 or serials.max() > MAX_SERIAL):
        raise InputError(f"component serials run from 1 to {MAX_SERIAL:,} per county and class; "
                         "this class is full: add a local extension class code")
    classes = np.asarray(class_codes, dtype=object).astype(str)
    return np.char.add(np.char.add(admin, classes), np.char.zfill(serials.astype(str), SERIAL_DIGITS)).astype(object)


def parse_code(code: str) -> dict:
    """Split a component code into its parts.

    Examples
    --------
    >>> parse_code("3205080101000001")
    {'admin_code': '320508', 'major_code': '01', 'sub_code': '01', 'class_code': '0101', 'serial': 1}
    """
    text = str(code).strip()
    if not (len(text) == 16 and text.isdigit()):
        raise InputError(f"a component code has 16 digits (6 county + 2 major + 2 sub + 6 serial); got {code!r}")
    return {"admin_code": text[:6], "major_code": text[6:8], "sub_code": text[8:10],
            "class_code": text[6:10], "serial": int(text[10:])}

"""Shared test helpers.

Real datasets live outside the repository in ``../shared/data`` (see its README.md); tests that
use them skip with a clear reason where that folder is absent.  Import the helper with
``from conftest import shared_data``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

#: ``<repo>/../shared/data``
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """Path of a file under ``../shared/data``, or skip the calling test if it is absent.

    Examples
    --------
    >>> blocks = shared_data("population", "rockland", "rockland_blocks.gpkg")  # doctest: +SKIP
    """
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"../shared/data/{'/'.join(parts)} not present: real-data test skipped")
    return path

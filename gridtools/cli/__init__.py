"""The ``gridtools`` command.

Each command parses its options, reads input with :mod:`gridtools.io`, makes one library call
and writes the result.  User errors (:class:`gridtools.errors.GridtoolsError`) are printed as a
one-line message with a non-zero exit code, never as a traceback.  Shared options, progress
bars, output helpers and the error handling live in ``_common``; one module per command group.
"""

from gridtools.cli._main import app, main

__all__ = ["app", "main"]

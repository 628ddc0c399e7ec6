"""Assemble the ``gridtools`` command: import every command module (each registers its commands
and groups on :data:`gridtools.cli._common.app`, in the order ``--help`` lists them)."""

from __future__ import annotations

from gridtools.cli import (  # noqa: F401  (imported for the commands they register)
    grid_commands,
    plan_commands,
    report_commands,
    demo_command,
    coords_commands,
    incident_commands,
    component_commands,
    hotspot_commands,
    route_commands,
    dispatch_commands,
)
from gridtools.cli._common import app, run

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``gridtools`` command."""
    run(argv)

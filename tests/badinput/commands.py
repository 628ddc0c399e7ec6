"""Every ``gridtools`` command, as ``--help`` lists them (shared by the bad-input suite and its count)."""

from __future__ import annotations


def cli_commands() -> list[str]:
    """Full names of every leaf command: ``["partition", ..., "incidents import", ...]``."""
    import typer.main

    from gridtools.cli import _main

    names: list[str] = []

    def walk(command, prefix: list[str]) -> None:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, prefix + [name])
        else:
            names.append(" ".join(prefix))

    walk(typer.main.get_command(_main.app), [])
    return names

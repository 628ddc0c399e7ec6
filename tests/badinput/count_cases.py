"""Count the bad-input cases per command: ``python tests/badinput/count_cases.py [--markdown]``.

Prints ``command -> refusals + right answers`` for every command that ``gridtools --help`` lists
(a command with 0 cases is a gap); ``--markdown`` prints the table of docs/bad_input.md.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2])]

from badinput.cases import CASES, OK_CASES  # noqa: E402
from badinput.commands import cli_commands  # noqa: E402


def counts() -> list[tuple[str, int, int]]:
    """(command, refusal cases, right-answer cases) for every command, in --help order."""
    refused, right = Counter(c.command for c in CASES), Counter(c.command for c in OK_CASES)
    return [(name, refused[name], right[name]) for name in cli_commands()]


def main(argv: list[str]) -> None:
    rows = counts()
    if "--markdown" in argv:
        print("| command | refused | right answer | total |\n|---|---:|---:|---:|")
        for name, bad, ok in rows:
            print(f"| `gridtools {name}` | {bad} | {ok} | {bad + ok} |")
        print(f"| **all {len(rows)} commands** | {sum(r[1] for r in rows)} | {sum(r[2] for r in rows)} | "
              f"{sum(r[1] + r[2] for r in rows)} |")
        return
    for name, bad, ok in rows:
        print(f"{name:22s} -> {bad + ok:3d}  ({bad} refused, {ok} right answer)")
    print(f"{'total':22s} -> {sum(r[1] + r[2] for r in rows):3d}")


if __name__ == "__main__":
    main(sys.argv[1:])

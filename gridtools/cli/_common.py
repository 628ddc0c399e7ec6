"""What every ``gridtools`` command shares: the root app, consoles, option types, progress bars,
output helpers, and the error handling of :func:`run` (one line, never a traceback).

Library messages name Python parameters (``crs='EPSG:4326'``, ``lon=..., lat=...``, "the
'cell' parameter"); :func:`cli_message` rewrites those mentions into the running command's
flags (``--crs EPSG:4326``, ``--lon/--lat``, "the --cell option"), so the same message reads
right in a notebook and in a shell.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperCommand

from gridtools import io
from gridtools.db import Database
from gridtools.errors import GridtoolsError

console = Console(stderr=True)
out = Console()


# --------------------------------------------------------------------------------------------
# Apps and commands
# --------------------------------------------------------------------------------------------


class Command(TyperCommand):
    """A Typer command that tags the :class:`GridtoolsError` it raises with itself.

    :func:`run` then names this command's flags in the message (see :func:`cli_message`).
    """

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except GridtoolsError as exc:
            if getattr(exc, "cli_command", None) is None:
                exc.cli_command = self
            raise


class Typer(typer.Typer):
    """``typer.Typer`` whose commands are :class:`Command` (their errors name CLI flags)."""

    def command(self, name=None, *, cls=None, **kwargs):
        return super().command(name, cls=cls or Command, **kwargs)


def group(help: str) -> Typer:
    """A command group (``gridtools incidents ...``): shows its help when run without a command."""
    return Typer(help=help, no_args_is_help=True)


#: The ``gridtools`` command; each command module registers its commands and groups on it.
app = Typer(
    name="gridtools",
    help="Population-balanced management grids (网格化管理) and the city operations that run on them.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


def run(argv: list[str] | None = None) -> None:
    """Run the ``gridtools`` app on *argv*; a :class:`GridtoolsError` becomes one line and its exit code.

    Warnings become one ``warning:`` line each (the noise of GDAL and pandas about input that
    gridtools has already handled is dropped, see :func:`show_warning`).  A closed pipe
    (``gridtools partition ... | head``) ends the command quietly: outputs are written before
    anything is printed, so the file is complete.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = show_warning
        try:
            # standalone mode: Typer itself reports usage errors and exits with code 2
            app(args=argv, prog_name="gridtools")
        except GridtoolsError as exc:
            message = cli_message(str(exc), getattr(exc, "cli_command", None))
            # soft_wrap: an error line is never broken inside a file name, whatever the terminal width
            console.print(f"[bold red]error:[/bold red] {message}", highlight=False, soft_wrap=True)
            sys.exit(exc.exit_code)
        except BrokenPipeError:
            _close_broken_pipe()
        except Exception as exc:  # a bug, not bad input: still one line, unless asked for the traceback
            _internal_error(exc)


def _internal_error(exc: Exception) -> None:
    """One line for an exception gridtools did not expect (exit code 70); GRIDTOOLS_DEBUG=1 re-raises it."""
    if os.environ.get("GRIDTOOLS_DEBUG"):
        raise exc
    from rich.markup import escape

    console.print(f"[bold red]error:[/bold red] internal error ({type(exc).__name__}: {escape(str(exc))}). "
                  "This is a bug in gridtools: please report it with the command line; set "
                  "GRIDTOOLS_DEBUG=1 to see the traceback.", highlight=False, soft_wrap=True)
    sys.exit(70)  # EX_SOFTWARE


def _close_broken_pipe() -> None:
    """The reader of stdout went away (``| head``): stop printing, exit as a piped Unix tool does."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python flushes stdout at exit: give it somewhere to go
    except (OSError, ValueError):
        pass
    sys.exit(141)  # 128 + SIGPIPE, what a shell reports for a command killed by a closed pipe


#: Third-party warnings about input gridtools handles itself (GDAL repairs, messages of the
#: row checks that follow): dropped on the command line.
IGNORED_WARNINGS = re.compile(
    r"Non closed ring detected|organizePolygons\(\)|Several features with id|Could not infer format"
    r"|invalid value encountered|Geometry is in a geographic CRS|driver .* does not support open option"
)


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` for the CLI: one ``warning:`` line, no source line, noise dropped."""
    text = str(message)
    if issubclass(category, (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)):
        return
    if IGNORED_WARNINGS.search(text):
        return
    warn(text.strip().splitlines()[0] if text.strip() else category.__name__)


# --------------------------------------------------------------------------------------------
# Library parameters -> this command's flags
# --------------------------------------------------------------------------------------------

#: Library parameters spelt differently on the command line: name -> CLI parameter names to
#: try, first match wins (a name the command has under its own name needs no entry, e.g.
#: ``min_pop`` is the ``--min`` option's parameter).
PARAMETER_ALIASES: dict[str, tuple[str, ...]] = {
    "assignment": ("plan",),
    "categories": ("category",),
    "classes": ("classes_file",),
    "covariates": ("poi",),
    "grids": ("grids", "grids_file"),
    "kind": ("vehicle_kind",),
    "locked": ("lock",),
    "max_travel_s": ("max_travel_min",),
    "n_areas": ("areas",),
    "n_jobs": ("jobs",),
    "quantities": ("quantity",),
    "random_state": ("seed",),
    "score_cutoff": ("cutoff",),
    "share": ("patrol_share",),
    "total": ("total", "estimate_total"),
    "types": ("types_file",),
}

#: Library settings that are a flag of their own on the command line.
SETTING_ALIASES: dict[str, str] = {
    "on_error='skip'": "skip_bad",
    "cache=False": "no_cache",
}

_NAME = r"[A-Za-z_]\w*"
_VALUE = r"\.\.\.|'[^']*'|\"[^\"]*\"|True\b|False\b"
# One pattern, alternatives tried in this order at each place: a setting with a flag of its own,
# a pair of columns, one keyword, "the 'x' parameter".
_MENTION = re.compile(
    r"(?<![\w.])(?:"
    + "(?P<setting>" + "|".join(map(re.escape, SETTING_ALIASES)) + ")"
    + rf"|(?P<first>{_NAME})=\.\.\., (?P<second>{_NAME})=\.\.\."
    + rf"|(?P<name>{_NAME})=(?P<value>{_VALUE})"
    # a number only after "pass " ("pass min_reach_nodes=0"): "COL=2" elsewhere is a column weight
    + rf"|(?<=pass )(?P<pname>{_NAME})=(?P<pnum>-?\d+(?:\.\d+)?\b)"
    + rf")|\bthe '(?P<parameter>{_NAME})' parameter(?: of [\w.]+)?"
)
# A parameter named bare before "must" / "is" (the validate_params message shape).
_BARE = re.compile(rf"(?<![\w.'\-=])(?P<bare>{_NAME}) (?=must |is (?:active|one)|has to )")
# A clause offering a keyword setting: removed when the command has no flag for it.
_HINT = re.compile(rf"[;,]\s*(?:or\s+)?pass (?P<hint>{_NAME})=(?:True\b|False\b|'[^']*'|\.\.\.|-?\d+\b)[^.;)]*")
# Python shown as Python (``read_any(path, crs=...)``) is left alone: a flag inside a call reads wrong.
_CALL = re.compile(r"[\w.]+\([^()]*\)")


def cli_message(message: str, command=None) -> str:
    """Rewrite the Python parameters a library message names into *command*'s flags.

    Parameters
    ----------
    message : str
        A :class:`~gridtools.errors.GridtoolsError` message.
    command : click command, optional
        The running command; without one the message is returned unchanged.

    Returns
    -------
    str
        ``name=...`` -> ``--flag``; ``a=..., b=...`` -> ``--a/--b``; ``name='value'`` ->
        ``--flag value``; ``pass name=0`` -> ``pass --flag 0``; ``flag=True`` -> ``--flag``; "the
        'name' parameter [of f]" -> "the --flag option".  Names the command does not have (after :data:`PARAMETER_ALIASES`) stay as
        they are, and so do messages still written with a "(CLI: ...)" hint.

    Examples
    --------
    >>> import typer
    >>> from typer.main import get_command
    >>> demo = typer.Typer()
    >>> @demo.command()
    ... def convert(lon: str = typer.Option(None, "--lon"), lat: str = typer.Option(None, "--lat"),
    ...             crs: str = typer.Option(None, "--crs")):
    ...     pass
    >>> cli_message("pass lon=..., lat=... with crs='EPSG:4326'", get_command(demo))
    'pass --lon/--lat with --crs EPSG:4326'
    >>> cli_message("(the nearest road is 93 m away; pass lon=0 to start there)", get_command(demo))
    '(the nearest road is 93 m away; pass --lon 0 to start there)'
    >>> cli_message("(the nearest road is 93 m away; pass zoom=0 to start there)", get_command(demo))
    '(the nearest road is 93 m away)'
    """
    if command is None or "(CLI: " in message:
        return message
    params = {p.name: p for p in command.params}
    # "; pass allow_empty=True if ..." offers a Python setting the command does not have: drop it
    message = _HINT.sub(lambda m: "" if _lookup(params, m["hint"]) is None else m.group(0), message)
    # "horizon_days must be positive": a bare parameter name that a check starts its sentence with
    message = _BARE.sub(lambda m: (_flag(p) if (p := _lookup(params, m["bare"])) is not None else m["bare"])
                        + m.group(0)[len(m["bare"]):], message)
    calls = [m.span() for m in _CALL.finditer(message)]

    def keyword(name: str, value: str, text: str) -> str:
        param = _lookup(params, name)
        flag = _flag(param, value) if param is not None else None
        return flag or text

    def rewrite(match) -> str:
        text = match.group(0)
        if any(lo <= match.start() < hi for lo, hi in calls):
            return text
        if match["setting"]:
            param = params.get(SETTING_ALIASES[match["setting"]])
            if param is not None:
                return _flag(param)
            name, _, value = text.partition("=")
            return keyword(name, value, text)
        if match["first"]:
            first, second = _lookup(params, match["first"]), _lookup(params, match["second"])
            if first is not None and second is not None:
                return f"{_flag(first)}/{_flag(second)}"
            return (keyword(match["first"], "...", f"{match['first']}=...") + ", "
                    + keyword(match["second"], "...", f"{match['second']}=..."))
        if match["name"]:
            return keyword(match["name"], match["value"], text)
        if match["pname"]:
            return keyword(match["pname"], match["pnum"], text)
        param = _lookup(params, match["parameter"])
        if param is None:
            return text
        return f"the {_flag(param)} {'option' if param.param_type_name == 'option' else 'argument'}"

    return _MENTION.sub(rewrite, message)


def _lookup(params: dict, name: str):
    """The command parameter a library parameter *name* stands for, or None."""
    for candidate in (name, *PARAMETER_ALIASES.get(name, ())):
        if candidate in params:
            return params[candidate]
    return None


def _flag(param, value: str = "...") -> str | None:
    """How the command line spells *param* (set to the Python literal *value*)."""
    if param.param_type_name != "option":
        name = getattr(param, "display_name_raw", None) or param.name
        return name.upper() if value == "..." else None
    longs = [o for o in param.opts if o.startswith("--")] or param.opts
    if value == "...":
        return longs[0]
    if value in ("True", "False"):
        if not getattr(param, "is_flag", False):
            return None
        if value == "True":
            return longs[0]
        negative = [o for o in param.secondary_opts if o.startswith("--")]
        return negative[0] if negative else None
    if value[:1] not in ("'", '"'):  # a number
        return f"{longs[0]} {value}"
    return f"{longs[0]} {shlex.quote(value[1:-1])}"


# --------------------------------------------------------------------------------------------
# Option types shared by several commands
# --------------------------------------------------------------------------------------------

OutOption = Annotated[Path, typer.Option("-o", "--output", help="File to write.")]
SchedulerOption = Annotated[Optional[str], typer.Option(
    "--scheduler", help="Run on Dask: 'local:N' (a LocalCluster of N workers on this machine) or a scheduler "
                        "address such as tcp://10.0.0.5:8786 (pip install 'gridtools[dask]').")]
JobsOption = Annotated[Optional[int], typer.Option("--jobs", help="Worker processes on this machine (partition: "
                                                                 "all cores by default; other commands: one).")]
CrsOption = Annotated[Optional[str], typer.Option("--crs", help="CRS of input that has none, e.g. EPSG:4326; "
                                                   "gcj02 / bd09: Chinese web-map lon/lat, converted to WGS-84.")]
LayerOption = Annotated[Optional[str], typer.Option("--layer", help="Layer to read from a multi-layer file.")]
DayfirstOption = Annotated[Optional[bool], typer.Option(
    "--dayfirst/--monthfirst", help="Dates like 03/12/2019 are day-first (3 Dec) or month-first (March 12); "
                                    "needed only when no date in the column has a day above 12.")]
DedupeOption = Annotated[bool, typer.Option(
    "--dedupe", help="Keep the first of rows that repeat an id or a geometry (and say how many went) "
                     "instead of refusing them.")]
LangOption = Annotated[str, typer.Option("--lang", help="Language of the report: en or zh.")]
TitleOption = Annotated[Optional[str], typer.Option("--title", help="Title of the report.")]
TilesOption = Annotated[Optional[str], typer.Option("--tiles", help="Basemap tiles when online, e.g. OpenStreetMap or "
                                                    "a URL template .../{z}/{x}/{y}.png (default: none, so the page "
                                                    "works offline on a light base drawn from the data).")]
MapRoadsOption = Annotated[Optional[Path], typer.Option("--roads", help="Road lines (an OSM extract or any lines) "
                                                         "drawn under the map, with road names, when there are no "
                                                         "tiles.")]
BandMinOption = Annotated[Optional[int], typer.Option("--min", help="Fewest residents per grid (default: the band "
                                                      "the partition used, stored in its GeoPackage).")]
BandMaxOption = Annotated[Optional[int], typer.Option("--max", help="Most residents per grid (default: the band "
                                                      "the partition used, stored in its GeoPackage).")]


# --------------------------------------------------------------------------------------------
# Progress and output
# --------------------------------------------------------------------------------------------


@contextmanager
def progress_bar():
    """A progress display whose callback matches the library's ``progress(stage, done, total)``.

    On a terminal: a rich bar per stage.  Otherwise (a log file, a pipe, a CI job) a plain line
    when a stage starts, then at most every few seconds and when it ends, so a long step is
    never silent.
    """
    if not console.is_terminal:
        yield _progress_lines()
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int | None) -> None:  # total None: a stream
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def _progress_lines(every_s: float = 5.0):
    """The ``progress(stage, done, total)`` callback of a non-terminal: a line per stage now and then."""
    import time

    started: dict[str, float] = {}
    shown: dict[str, float] = {}

    def update(stage: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        first = stage not in started
        started.setdefault(stage, now)
        finished = total is not None and done >= total
        if first or finished or now - shown.get(stage, 0) >= every_s:
            shown[stage] = now
            count = f"{done:,}" if total is None else f"{done:,}/{total:,}"  # a stream: total unknown
            console.print(f"{stage}: {count} ({now - started[stage]:.0f} s)", highlight=False)

    return update


def print_lines(title: str, lines: list[str]) -> None:
    """A bold title and indented summary lines on standard output."""
    out.print(f"[bold]{title}[/bold]")
    for line in lines:
        out.print(f"  {line}")


def band_note(grids, min_pop, max_pop) -> str:
    """The band a map or report judged grids by, and where it came from, for the line a command prints."""
    from gridtools.grids.params import band_of, params_of

    lo, hi = band_of(grids, min_pop, max_pop)
    if min_pop is not None and max_pop is not None:
        where = "from --min/--max"
    elif "min_pop" in params_of(grids):
        where = "as the partition used" + (", with --min/--max overriding" if (min_pop, max_pop) != (None, None) else "")
    else:
        where = "the default: the file does not say which band made it; give --min/--max"
    return f"band {lo:,.0f}-{hi:,.0f}, {where}"


def warn(message: str) -> None:
    """A yellow ``warning:`` line on standard error."""
    console.print(f"[yellow]warning:[/yellow] {message}", highlight=False)


def print_table(table, title: str, limit: int = 50) -> None:
    """The first *limit* rows of a DataFrame: a rich table on a terminal, tab-separated text otherwise.

    No cell is ever cut short: a long value (a 17-digit grid code, an id) folds onto the next
    line inside its cell instead of ending in an ellipsis, and piped output is plain text that
    ``cut``/``awk``/a spreadsheet read whole.
    """
    rows = [["" if v is None else str(v) for v in row] for row in table.head(limit).itertuples(index=False)]
    if not out.is_terminal:
        out.print("\t".join(map(str, table.columns)), highlight=False, soft_wrap=True, markup=False)
        for row in rows:
            out.print("\t".join(row), highlight=False, soft_wrap=True, markup=False)
    else:
        view = Table(title=title)
        for name in map(str, table.columns):
            view.add_column(name, overflow="fold")
        for row in rows:
            view.add_row(*row)
        out.print(view)
    if len(table) > limit:
        out.print(f"... {len(table) - limit:,} more rows (use -o FILE)")


def table_view(*columns: str, title: str) -> Table:
    """A rich table whose cells fold instead of being cut (codes and ids stay whole)."""
    view = Table(title=title)
    for name in columns:
        view.add_column(name, overflow="fold")
    return view


def write_or_print(table, output: Optional[Path], title: str) -> None:
    """Write *table* to *output* and say so, or print it when no output was given."""
    if output is not None:
        io.write_any(table, output)
        out.print(f"wrote {output} ({len(table):,} rows)")
        return
    print_table(table, title)


def report_rows(lines: list[str], strict: bool, what: str) -> None:
    """Rows a command could not use: warnings, or with --strict one error naming them all."""
    if not lines:
        return
    if strict:
        raise GridtoolsError(f"{what}: " + "; ".join(lines) + " (rows count from 1, after the header line)")
    for line in lines:
        warn(line)


# --------------------------------------------------------------------------------------------
# Reading what the command line names
# --------------------------------------------------------------------------------------------


def require_gpkg_output(output: Path, layers: str) -> None:
    """Refuse, before any work, an output file that cannot hold the command's several layers.

    A GeoJSON or shapefile holds one layer: writing the second would silently replace the first.
    """
    if output.suffix.lower() != ".gpkg":
        raise GridtoolsError(f"cannot write {output}: this command writes several layers ({layers}) and only a "
                             f"GeoPackage holds them; give -o {output.with_suffix('.gpkg').name}")


def gpkg_layers(path: Path) -> list[str]:
    """Layer names of a GeoPackage (empty for other files, or a file that cannot be listed)."""
    if path.suffix.lower() != ".gpkg" or not path.exists():
        return []
    import pyogrio

    try:
        return [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except Exception:
        return []


def pick_grids_layer(path: Path, layer: Optional[str]) -> Optional[str]:
    """The 'grids' layer that 'gridtools partition' writes, when the file has one and none was named."""
    if layer is not None:
        return layer
    return "grids" if "grids" in gpkg_layers(path) else None


def read_layer(path: Path, layer: Optional[str]):
    """Read *layer* of a GeoPackage, or the whole file when it is not one (the layer is ignored)."""
    return io.read_any(path, layer=layer if path.suffix.lower() == ".gpkg" else None)


def require_database(target: str, message: str) -> None:
    """Raise with *message* when *target* names a SQLite file (or ``sqlite:///`` URL) that does not exist."""
    path = Database(target).path  # None for PostgreSQL; nothing is opened yet
    if path is not None and not path.exists():
        raise GridtoolsError(message)


def lonlat(text: str, option: str, *, verb: str = "must be", example: str = "8.69,49.41") -> tuple[float, float]:
    """Parse the ``LON,LAT`` given to *option* (e.g. ``--from``), or raise naming the option."""
    try:
        lon, lat = (float(v) for v in text.split(","))
    except ValueError:
        raise GridtoolsError(f"{option} {verb} LON,LAT in degrees, e.g. {example}; got {text!r}") from None
    return lon, lat


def token_lines(tokens: list[dict]) -> list[str]:
    """One line per token of a service's token list: id, role, state, created, expires, last used,
    grid or department, holder (never a secret)."""
    lines = []
    for t in tokens:
        state = ("replaced" if t.get("replaced_by") is not None and (t["revoked"] or t.get("expired")) else
                 "revoked" if t["revoked"] else "expired" if t.get("expired") else "active")
        scope = " ".join(f"{k}={t[k]}" for k in ("grid", "department") if t.get(k))
        lines.append(f"{t['id']:>5}  {t['role']:<10}  {state:<8}  created {str(t['created'])[:19]:<19}  expires "
                     f"{str(t['expires'] or 'never')[:19]:<19}  last used {str(t['last_used'] or 'never')[:19]:<19}  "
                     f"{t['name']}{'  ' + scope if scope else ''}")
    return lines


def token_admin(store, *, list_tokens: bool, revoke: Optional[int], rotate: Optional[int], days, grace_hours) -> bool:
    """``--list`` / ``--revoke ID`` / ``--rotate ID`` of a service's ``token`` command on its store
    (``tokens()``, ``revoke_token(id)``, ``rotate_token(id, days, grace_hours)``); False when none
    was asked (the command issues a token)."""
    if list_tokens:
        print_lines("tokens", token_lines(store.tokens()) or ["no tokens"])
    elif revoke is not None:
        if not store.revoke_token(revoke):
            raise GridtoolsError(f"no live token with id {revoke} (see --list)")
        out.print(f"token {revoke} revoked (refused from the service's next request)")
    elif rotate is not None:
        token = store.rotate_token(rotate, days, grace_hours or 0.0)
        when = f"in {grace_hours:g} h" if grace_hours else "now"
        out.print(f"token {rotate} replaced; the old one stops working {when}. The new token (last line):",
                  highlight=False)
        print(token)
    else:
        return False
    return True

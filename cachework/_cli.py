"""The ``cachework`` command: each subcommand is a thin wrapper over a ``Store`` method.

Every filter a command offers is an argument of that method; what it prints goes through
``_output`` (a table for people, ``--json``, ``--csv`` or ``--tsv`` for programs). Exit
codes: 0 success, 1 a problem found (no such call, a store error), 2 bad usage.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, TypeVar

import click

from . import __version__
from . import _output as output
from ._errors import AmbiguousCall, CacheworkError, NoSchema, NoSuchCall
from ._formats import parse_utc
from ._store import CALL_STATUSES, RUN_STATUSES, Call, Run, Store

if TYPE_CHECKING:
    from . import BackfillReport, CalendarRow, Period, Work
    from ._records import JSON

F = TypeVar("F", bound=Callable[..., object])

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
ARG_HELP = (
    "Match a stored argument, NAME=VALUE. VALUE is read as JSON when it parses "
    '(n=3 is the int 3, flag=true a bool, n=\'"3"\' the string "3"), else as a string '
    "(day=2022-05-25). Repeatable."
)


class Problem(click.ClickException):
    """A problem found while doing what was asked: exit code 1, one line, in the form
    every error of the command takes (``cachework: error: ...``)."""

    exit_code = 1

    def show(self, file: IO[str] | None = None) -> None:
        click.echo(f"cachework: error: {self.format_message()}", file=file, err=file is None)


def _interactive() -> bool:
    """Whether a person can answer a prompt (not a cron job, a pipe or a script)."""
    return sys.stdin.isatty()


def _duration(text: str, what: str) -> _dt.timedelta:
    m = _DURATION.match(text.strip())
    if not m:
        raise click.BadParameter(
            f"{text!r} is not a duration like 30s, 15m, 12h, 2d or 1w", param_hint=what
        )
    return _dt.timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])


def _since(text: str | None) -> _dt.datetime | None:
    """``2d`` (that long ago) or an ISO date/time (UTC unless it says otherwise)."""
    if text is None:
        return None
    if _DURATION.match(text.strip()):
        return _dt.datetime.now(_dt.timezone.utc) - _duration(text, "--since")
    try:
        moment = parse_utc(text.strip())
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither a duration (2d, 12h) nor a date (2026-11-01)",
            param_hint="--since",
        )
    return moment if moment.tzinfo else moment.replace(tzinfo=_dt.timezone.utc)


def _args(pairs: Sequence[str]) -> dict[str, JSON]:
    out: dict[str, JSON] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--arg")
        try:
            out[name] = json.loads(raw)
        except ValueError:
            out[name] = raw
    return out


def _store(ctx: click.Context, create: bool = False) -> Store:
    store = Store(ctx.obj["url"], create=create)
    # A reading command opens it now: a missing file or an unreachable server is one line.
    return store if create else store.open()


def _set_url(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:  # after the subcommand: it wins over the group's (and the env's)
        ctx.ensure_object(dict)["url"] = value


_URL_HELP = "Store URL or SQLite path [env CACHEWORK_URL; default ./cachework.db]."


def url_option(f: F) -> F:
    """``--url`` after the subcommand as well as before it (``cachework works --url x.db``)."""
    return click.option("--url", expose_value=False, callback=_set_url, help=_URL_HELP)(f)


def listing_options(f: F) -> F:
    """What every listing command takes: ``--url``, ``--json``, ``--csv``, ``--tsv``."""
    return url_option(output.output_options(f))


def record_options(f: F) -> F:
    """What every command that prints one record takes: ``--url``, ``--json``."""
    return url_option(output.json_option(f))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", envvar="CACHEWORK_URL", help=_URL_HELP)
@output.output_options
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.version_option(__version__, prog_name="cachework")
@click.pass_context
def cli(ctx: click.Context, url: str | None, debug: bool) -> None:
    """List, show, forget and prune the calls and runs cachework has recorded."""
    ctx.ensure_object(dict).update(url=url, debug=debug)


WORKS_FIELDS = [
    "work",
    "calls",
    "succeeded",
    "failed",
    "running",
    "runs",
    "last_run",
    "mean_duration_s",
]


@cli.command()
@listing_options
@click.pass_context
def works(ctx: click.Context) -> None:
    """One row per work: calls, succeeded/failed/running, runs, last run, mean duration."""
    output.listing(ctx, WORKS_FIELDS, _store(ctx).works(), title="works")


#: What ``cachework history`` shows of each run in a table (``--json`` and ``--csv``: all).
HISTORY_COLUMNS = [
    "id",
    "work",
    "key",
    "args",
    "status",
    "reason",
    "started_at",
    "duration_s",
    "error_type",
    "host",
    "pid",
]


@cli.command()
@click.argument("work", required=False)
@click.option("--status", type=click.Choice(RUN_STATUSES))
@click.option(
    "--since", help="Runs started since: a duration ago (2d, 12h) or a date (2026-11-01)."
)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--arg", "arg_pairs", multiple=True, help=ARG_HELP)
@listing_options
@click.pass_context
def history(
    ctx: click.Context,
    work: str | None,
    status: str | None,
    since: str | None,
    limit: int,
    arg_pairs: tuple[str, ...],
) -> None:
    """Runs, newest first."""
    values = _args(arg_pairs)
    when = _since(since)
    runs = _store(ctx).history(work, status=status, since=when, limit=limit, args=values)
    output.listing(ctx, Run._fields, runs, columns=HISTORY_COLUMNS, title="history")


def _show_text(call: Call, result_type: str | None, runs: list[Run]) -> str:
    lines = [f"{field:>13}: {output.cell(getattr(call, field))}" for field in Call._fields]
    lines.append(f"{'result_type':>13}: {output.cell(result_type)}")
    for run in runs:
        lines.append(
            f"\nrun {run.id}: {run.status} at {output.cell(run.started_at)} on {run.host}:{run.pid}"
            f" ({output.cell(run.duration_s)} s)"
        )
        if run.error_type:
            lines.append(f"  {run.error_type}: {run.error}")
        if run.traceback:
            lines.append("  " + run.traceback.rstrip().replace("\n", "\n  "))
    return "\n".join(lines)


@cli.command()
@click.argument("work")
@click.argument("key", required=False)
@click.option("--arg", "arg_pairs", multiple=True, help=ARG_HELP)
@record_options
@click.pass_context
def show(ctx: click.Context, work: str, key: str | None, arg_pairs: tuple[str, ...]) -> None:
    """The whole record of one call (by KEY or --arg) and its runs."""
    values = _args(arg_pairs)
    if key is None and not values:
        raise click.UsageError("give a KEY or at least one --arg NAME=VALUE")
    store = _store(ctx)
    try:
        call = store.call(work, key, args=values)
    except (NoSuchCall, AmbiguousCall) as e:
        raise Problem(str(e)) from None
    runs = store.history(work, key=call.key, limit=None)
    # Read from the pickle's opcodes: loading a stored value runs what it names.
    result_type = store.result_type(work, call.key)
    record = {"call": call, "result_type": result_type, "runs": runs}
    output.record(ctx, record, _show_text(call, result_type, runs))


def _calls(n: int) -> str:
    return f"{n} call{'' if n == 1 else 's'}"


@cli.command()
@click.argument("work")
@click.option("--arg", "arg_pairs", multiple=True, help=ARG_HELP)
@click.option("--key", help="Exactly this key.")
@click.option("--status", type=click.Choice(CALL_STATUSES))
@click.option("--older-than", help="Only calls last finished longer ago than this (30d).")
@click.option("--all", "everything", is_flag=True, help="Every call of WORK.")
@click.option("--dry-run", is_flag=True, help="Print what would be removed; remove nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before removing several calls.")
@click.option(
    "--force",
    is_flag=True,
    help="Also running calls: their result is recorded but not served; the next call runs.",
)
@record_options
@click.pass_context
def forget(
    ctx: click.Context,
    work: str,
    arg_pairs: tuple[str, ...],
    key: str | None,
    status: str | None,
    older_than: str | None,
    everything: bool,
    dry_run: bool,
    yes: bool,
    force: bool,
) -> None:
    """Remove calls so that they run again next time (the history stays).

    A running call is left alone unless --force: then it is marked so that its result,
    once its run ends, is not served and the next call runs again.
    """
    values = _args(arg_pairs)
    if not (values or key or status or older_than or everything):
        raise click.UsageError("say what to forget: --arg, --key, --status, --older-than or --all")
    age = _duration(older_than, "--older-than") if older_than else None
    store = _store(ctx)
    calls = store.calls(work, key=key, status=status, older_than=age, args=values)
    if not calls:
        store.forget_calls(calls, work=work)  # NoSuchWork for a work the store never saw
    verb = "would forget" if dry_run else "forget"
    listed = [f"{verb} {c.work} {c.key} {output.cell(c.args)} [{c.status}]" for c in calls]
    people = output.chosen(ctx) is None
    n = running = 0
    if calls and not dry_run:
        if len(calls) > 1 and not yes:
            if not _interactive():
                raise Problem(f"{len(calls)} calls match; add --yes to forget them all")
            if not store.read_only:  # a read-only store: forget_calls says so, unasked
                click.echo("\n".join(listed))
                click.confirm(f"Forget {len(calls)} calls?", abort=True)
                people = False  # listed already
        n = store.forget_calls(calls, force=force)
        # As listed a moment ago: a count for people, the store decided call by call.
        running = 0 if force else sum(c.status == "running" for c in calls)
    if people and listed:  # after the fact: nothing is said as done before it is
        click.echo("\n".join(listed))
    if not calls:
        text = "nothing matches"
    elif dry_run:
        text = f"{_calls(len(calls))} would be forgotten"
    else:
        text = f"forgot {_calls(n)}"
        if running:
            text += (
                f"\nleft {_calls(running)} running alone "
                "(--force marks them to run again once they finish)"
            )
    data = {"forgotten": n, "matched": calls, "dry_run": dry_run, "left_running": running}
    output.record(ctx, data, text)


@cli.command()
@click.option(
    "--older-than",
    required=True,
    help="Remove calls (and with --history, runs) older than this (30d).",
)
@click.option("--history", "with_history", is_flag=True, help="Also remove runs older than that.")
@click.option("--vacuum", is_flag=True, help="Give the freed space back to the file system.")
@record_options
@click.pass_context
def prune(ctx: click.Context, older_than: str, with_history: bool, vacuum: bool) -> None:
    """Remove stale and expired calls, sweep runs whose owner died, optionally old history."""
    age = _duration(older_than, "--older-than")
    result = _store(ctx).prune(age, history=with_history, vacuum=vacuum)
    text = (
        f"removed {_calls(result['calls'])} and {result['runs']} runs; "
        f"marked {result['interrupted']} dead runs interrupted"
    )
    output.record(ctx, result, text)


@cli.command()
@click.argument("query")
@listing_options
@click.pass_context
def sql(ctx: click.Context, query: str) -> None:
    """Run one read-only SQL statement and print its rows (writes are refused).

    Columns that share a name (a join's two ``status``) all print; in ``--json`` a repeated
    name gets a suffix (``status``, ``status_2``).
    """
    columns, rows = _store(ctx).query(query)
    names = output.unique_names(columns)
    document = [dict(zip(names, r, strict=True)) for r in rows]
    output.listing(ctx, columns, rows, document=document)


@cli.command()
@record_options
@click.pass_context
def stats(ctx: click.Context) -> None:
    """Works, calls, runs by status, the database's location and size, the schema revision."""
    output.record(ctx, _store(ctx).stats())


#: The fields of ``cachework calendar --csv``: a row per work and period.
CALENDAR_FIELDS = ["work", "every", "tz", "lag", "period", "status"]

#: How ``cachework calendar`` draws each status: (glyph, rich style). A blank cell: nothing
#: was expected of that period (before the work's first run, or not due yet).
CALENDAR_GLYPHS = {
    "succeeded": ("✔", "green"),
    "failed": ("✘", "bold red"),
    "running": ("▶", "cyan"),
    "interrupted": ("!", "bold yellow"),
    "never run": ("○", "magenta"),
    "": (" ", ""),
}


def _calendar_bound(text: str | None, what: str) -> _dt.datetime | _dt.date | None:
    """``30d`` (that long ago), a date (in each work's own zone) or a date and time (naive:
    wall time in each work's zone)."""
    if text is None:
        return None
    text = text.strip()
    if _DURATION.match(text):
        from . import _periods as periods

        now = _dt.datetime.fromtimestamp(periods.clock(), _dt.timezone.utc)  # the periods' clock
        return now - _duration(text, what)
    try:
        if len(text) == 10:
            return _dt.date.fromisoformat(text)
        return parse_utc(text)  # naive stays naive: wall time in each work's zone
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither a duration (30d, 12h) nor a date (2026-11-01)", param_hint=what
        ) from None


def _short_labels(labels: list[str]) -> list[str]:
    """Column headers narrow enough for a terminal: each label's last part (the day of
    ``2026-11-24``, the hour of ``2026-11-24T10``), with the part before it where that one
    changes (``11-30``, ``12-01``, ``02`` ...). The title gives the whole range."""
    out, parent = [], None
    for label in labels:
        cuts = [i for i, c in enumerate(label) if c in "-T:"]
        last = cuts[-1] if cuts else -1
        if label[:last] == parent:
            out.append(label[last + 1 :])
        else:
            out.append(label[cuts[-2] + 1 :] if len(cuts) > 1 else label)
        parent = label[:last]
    return out


def _calendar_grids(rows: list[CalendarRow]) -> list[tuple[list[str], list[CalendarRow]]]:
    """Rows grouped by their periods (works of one schedule share a grid), in row order."""
    grids: dict[tuple[str, ...], list[CalendarRow]] = {}
    for row in rows:
        grids.setdefault(tuple(label for label, _ in row.cells), []).append(row)
    return [(list(labels), group) for labels, group in grids.items()]


def _draw_calendar(rows: list[CalendarRow]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    for labels, group in _calendar_grids(rows):
        first = group[0]
        zone = f" {first.tz}" if first.tz else ""
        title = f"every {first.every}{zone}: {labels[0]} .. {labels[-1]}" if labels else ""
        console.print(Text(title, style="italic"))  # not the table's title: that wraps to its width
        table = Table(box=box.MINIMAL, padding=(0, 0))
        width = max(len(row.work) for row in group) + 1
        table.add_column("work", no_wrap=True, style="bold", min_width=width)
        for header in _short_labels(labels):
            table.add_column(header, justify="center", no_wrap=True)
        for row in group:
            cells = [Text(*CALENDAR_GLYPHS[status]) for _, status in row.cells]
            table.add_row(row.work + " ", *cells)
        console.print(table)
    legend = Text()
    for status, (glyph, style) in CALENDAR_GLYPHS.items():
        if status:
            legend.append(f"{glyph} ", style=style).append(f"{status}   ")
    console.print(legend.append("blank: nothing due"))


@cli.command()
@click.argument("works", nargs=-1)
@click.option(
    "--since",
    help="First period: a duration ago (30d) or a date (2026-11-01) [default: the last 30 periods].",
)
@click.option("--until", help="Last period: a date (2026-11-30) [default: now].")
@listing_options
@click.pass_context
def calendar(
    ctx: click.Context, works: tuple[str, ...], since: str | None, until: str | None
) -> None:
    """Works x periods: the status of every period of each work with every= (or WORK ...)."""
    start = _calendar_bound(since, "--since")
    end = _calendar_bound(until, "--until")
    try:
        rows = _store(ctx).calendar(works or None, since=start, until=end)
    except ValueError as e:  # a work without a recorded schedule
        raise Problem(str(e)) from None

    def people() -> None:
        if not rows:
            click.echo("no work with every= has run in this store")
        elif output.terminal():
            _draw_calendar(rows)
        else:  # piped: a plain grid per schedule, full labels, a status word per cell
            grids = _calendar_grids(rows)
            click.echo(
                "\n\n".join(
                    output.aligned(
                        ["work", *labels], [[r.work, *(s for _, s in r.cells)] for r in group]
                    )
                    for labels, group in grids
                )
            )

    # For programs one flat table, a row per (work, period), since schedules differ in
    # their periods; JSON keeps the library's shape, a work with its periods.
    cells = [
        {"work": r.work, "every": r.every, "tz": r.tz, "lag": r.lag, "period": p, "status": st}
        for r in rows
        for p, st in r.cells
    ]
    output.listing(ctx, CALENDAR_FIELDS, cells, document=[r.as_dict() for r in rows], people=people)


def _import_work(spec: str) -> Work:
    """``MODULE:ATTR`` imported as ``uvicorn app:app`` does: the current directory first on
    the path, ATTR may be dotted; a Work subclass is made with no arguments."""
    import importlib
    import os

    from ._work import Work

    module_name, sep, attrs = spec.partition(":")
    if not sep or not module_name or not attrs:
        raise click.BadParameter(
            f"{spec!r} is not MODULE:ATTR (e.g. pipeline:ingest)", param_hint="WORK"
        )
    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is None or not (module_name + ".").startswith(e.name + "."):
            raise Problem(f"importing {module_name} failed: ModuleNotFoundError: {e}") from e
        raise Problem(f"cannot import module {module_name!r} (from {here}): {_one_line(e)}") from e
    except Exception as e:  # the module itself raised while it was imported
        raise Problem(f"importing {module_name} failed: {type(e).__name__}: {_one_line(e)}") from e
    found: object = module
    for attr in attrs.split("."):
        try:
            found = getattr(found, attr)
        except AttributeError:
            raise Problem(f"module {module_name} has no attribute {attrs!r}") from None
    if isinstance(found, type) and issubclass(found, Work):
        found = found()
    if not isinstance(found, Work):
        raise Problem(
            f"{spec} is {type(found).__name__} {found!r:.60}, not a cachework Work or @work function"
        )
    if found.every is None:
        raise Problem(f"{spec} ({found.name}) has no every= periods to backfill")
    return found


def _period_arg(work: Work, text: str, what: str) -> Period:
    """A period label of the work's schedule (``2026-11-24``, ``2026-W48``), or an ISO date
    naming the period that holds it (``2026-11-24`` for a weekly work)."""
    from ._periods import Period

    assert work.every is not None  # _import_work refuses a work without every=
    try:
        return Period.of(work.every, work.tz, text)
    except ValueError as e:
        try:
            return Period.of(work.every, work.tz, _dt.date.fromisoformat(text))
        except ValueError:
            raise click.BadParameter(str(e), param_hint=what) from None


@cli.command()
@click.argument("spec", metavar="MODULE:ATTR")
@click.option("--from", "start", required=True, help="First period: a label or a date.")
@click.option("--to", "end", help="Last period [default: the current one, after lag].")
@click.option("--arg", "arg_pairs", multiple=True, help=ARG_HELP)
@click.option("--dry-run", is_flag=True, help="List the periods that would run; run nothing.")
@record_options
@click.pass_context
def backfill(
    ctx: click.Context,
    spec: str,
    start: str,
    end: str | None,
    arg_pairs: tuple[str, ...],
    dry_run: bool,
) -> None:
    """Run the missing and failed periods of a work, oldest first (exit 1 if any failed).

    MODULE:ATTR is imported as uvicorn does (the current directory first on the path); the
    work runs in its own store (--url for a work that names none).
    """
    values = _args(arg_pairs)
    with _default_url(ctx.obj["url"]):
        _backfill(ctx, spec, start, end, values, dry_run)


@contextlib.contextmanager
def _default_url(url: str | None) -> Iterator[None]:
    """``url`` as ``CACHEWORK_URL`` meanwhile: the store of a work that names none, as the
    library resolves it; the process's own value comes back after."""
    before = os.environ.get("CACHEWORK_URL")
    if url:
        os.environ["CACHEWORK_URL"] = url
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("CACHEWORK_URL", None)
        else:
            os.environ["CACHEWORK_URL"] = before


def _backfill(
    ctx: click.Context,
    spec: str,
    start: str,
    end: str | None,
    values: dict[str, JSON],
    dry_run: bool,
) -> None:
    from . import _periods as periods

    work = _import_work(spec)
    assert work.every is not None  # _import_work refuses a work without every=
    first = _period_arg(work, start, "--from")
    last = (
        periods.current(work.every, work.tz, work.lag)
        if end is None
        else _period_arg(work, end, "--to")
    )

    def run(progress: Callable[[str, str, int], None] | None = None) -> BackfillReport:
        try:
            return work.backfill(first, last, dry_run=dry_run, progress=progress, **values)
        except ValueError as e:  # the range: start after end, a period in the future
            raise click.BadParameter(str(e), param_hint="--from/--to") from None

    if output.terminal() and output.chosen(ctx) is None:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task(f"{work.name}", total=None)

            def advance(label: str, outcome: str, total: int) -> None:
                bar.update(task, total=total, advance=1, description=f"{work.name} {label}")

            report = run(advance)
    else:
        report = run()
    lines = [f"would run {label}" for label in report.would_run]
    lines += [f"ran {label}" for label in report.ran]
    lines += [f"failed {label}: {error}" for label, error in report.failed.items()]
    lines.append(
        f"{work.name} {first.label} .. {last.label}: "
        + (
            f"{len(report.would_run)} would run, {len(report.hit)} already succeeded"
            if dry_run
            else f"{len(report.ran)} ran, {len(report.failed)} failed, "
            f"{len(report.hit)} already succeeded"
        )
    )
    output.record(
        ctx, {"work": work.name, "dry_run": dry_run, **report._asdict()}, "\n".join(lines)
    )
    if report.failed:
        raise Problem(f"{len(report.failed)} of the periods failed: {', '.join(report.failed)}")


@cli.group()
def db() -> None:
    """Schema migrations (Alembic)."""


@db.command()
@click.argument("revision", default="head")
@url_option
@click.pass_context
def upgrade(ctx: click.Context, revision: str) -> None:
    """Create or upgrade the schema (the one command that may create a database)."""
    store = _store(ctx, create=True)
    store.upgrade(revision)
    click.echo(f"{store.safe_url()} is at revision {store.revision()}")


@db.command()
@url_option
@click.pass_context
def current(ctx: click.Context) -> None:
    """The schema revision the store is at ('none': no cachework tables yet)."""
    store = Store(ctx.obj["url"], create=False)
    try:
        store.open()  # a missing SQLite file is an error: a typo is not an empty store
    except NoSchema:
        click.echo("none")
        return
    click.echo(store.revision() or "none")


@db.command()
@click.argument("revision")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before dropping tables.")
@url_option
@click.pass_context
def downgrade(ctx: click.Context, revision: str, yes: bool) -> None:
    """Downgrade the schema to REVISION ('base' drops cachework's tables and every call and
    run in them). Asks first, as forget does; --yes skips the question."""
    store = Store(ctx.obj["url"], create=False)
    if store.path is not None and not os.path.exists(store.path):
        store.open()  # says the store does not exist, and creates nothing
    if not yes:
        what = (
            f"Drop every cachework table of {store.safe_url()}, with all its calls and runs?"
            if revision == "base"
            else f"Downgrade {store.safe_url()} from {store.revision()} to {revision}?"
        )
        if not _interactive():
            raise Problem(f"{what[:-1]}: add --yes to do it without a question")
        click.confirm(what, abort=True)
    store.downgrade(revision)
    click.echo(f"{store.safe_url()} is at revision {store.revision() or 'none'}")


def _one_line(e: BaseException) -> str:
    return " ".join(part.strip() for part in str(e).splitlines() if part.strip())


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: errors are one line (no traceback unless --debug), exit 1."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="cachework", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except (CacheworkError, OSError) as e:
        if debug:
            raise
        click.echo(f"cachework: error: {_one_line(e)}", err=True)
        sys.exit(1)
    except Exception as e:  # a bug or a driver error: still one line unless --debug
        if debug:
            raise
        click.echo(
            f"cachework: error: {type(e).__name__}: {_one_line(e)}",
            err=True,
        )
        sys.exit(1)

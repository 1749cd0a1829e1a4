"""The ``cachework`` command: each subcommand is a thin wrapper over a ``Store`` method.

Listings print a rich table on a terminal, tab-separated text when piped, and one JSON
document with ``--json``. Exit codes: 0 success, 1 a problem found (unknown key, store
error), 2 bad usage.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import sys
from collections.abc import Sequence
from typing import Any

import click

from . import __version__
from .errors import CacheworkError
from .store import RUN_STATUSES, Call, Store

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
ARG_HELP = (
    "Match a stored argument, NAME=VALUE. VALUE is read as JSON when it parses "
    '(n=3 is the int 3, flag=true a bool, n=\'"3"\' the string "3"), else as a string '
    "(day=2022-05-25). Repeatable."
)


class Problem(click.ClickException):
    """A problem found while doing what was asked: exit code 1, one line."""

    exit_code = 1


def _terminal() -> bool:
    """Whether people read the output (a rich table) rather than a program (plain lines)."""
    return sys.stdout.isatty()


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
        moment = _dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither a duration (2d, 12h) nor a date (2026-11-01)",
            param_hint="--since",
        )
    return moment if moment.tzinfo else moment.replace(tzinfo=_dt.timezone.utc)


def _args(pairs: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--arg")
        try:
            out[name] = json.loads(raw)
        except ValueError:
            out[name] = raw
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, tuple) and hasattr(value, "_asdict"):  # Run, Call
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bytes, memoryview)):
        return f"<{len(value)} bytes>"
    return value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, _dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _emit(
    ctx: click.Context, title: str, columns: list[str], rows: list[list[Any]], data: Any
) -> None:
    if ctx.obj["json"]:
        click.echo(json.dumps(_plain(data), indent=2, ensure_ascii=False, default=str))
        return
    if _terminal():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for c in columns:
            table.add_column(c)
        for r in rows:
            table.add_row(*(_cell(v) for v in r))
        Console().print(table)
        return
    click.echo("\t".join(columns))
    for r in rows:
        click.echo("\t".join(_cell(v).replace("\t", " ").replace("\n", " ") for v in r))


def _store(ctx: click.Context, create: bool = False) -> Store:
    store = Store(ctx.obj["url"], create=create)
    if not create and store.path is None:
        store.lookup("", "")  # reach the server now, so an unreachable one is one clear line
    return store


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--url",
    envvar="CACHEWORK_URL",
    help="Store URL or SQLite path [env CACHEWORK_URL; default ./cachework.db].",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document, for scripts.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.version_option(__version__, prog_name="cachework")
@click.pass_context
def cli(ctx: click.Context, url: str | None, as_json: bool, debug: bool) -> None:
    """List, show, forget and prune what cachework has recorded."""
    ctx.obj = {"url": url, "json": as_json, "debug": debug}


def _json_option(f: Any) -> Any:
    def set_json(ctx: click.Context, _param: Any, value: bool) -> None:
        if value:  # `cachework works --json` as well as `cachework --json works`
            ctx.obj["json"] = True

    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        expose_value=False,
        callback=set_json,
        help="One JSON document, for scripts.",
    )(f)


@cli.command()
@_json_option
@click.pass_context
def works(ctx: click.Context) -> None:
    """One row per work: entries, succeeded/failed/running, runs, last run, mean duration."""
    rows = _store(ctx).works()
    cols = [
        "work",
        "entries",
        "succeeded",
        "failed",
        "running",
        "runs",
        "last_run",
        "mean_duration_s",
    ]
    _emit(ctx, "works", cols, [[r[c] for c in cols] for r in rows], rows)


@cli.command()
@click.argument("work", required=False)
@click.option("--status", type=click.Choice(RUN_STATUSES))
@click.option(
    "--since", help="Runs started since: a duration ago (2d, 12h) or a date (2026-11-01)."
)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--arg", "arg_pairs", multiple=True, help=ARG_HELP)
@_json_option
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
    cols = [
        "id",
        "work",
        "key",
        "args",
        "status",
        "started_at",
        "duration_s",
        "error_type",
        "host",
        "pid",
    ]
    _emit(ctx, "history", cols, [[getattr(r, c) for c in cols] for r in runs], runs)


@cli.command()
@click.argument("work")
@click.argument("key", required=False)
@click.option("--arg", "arg_pairs", multiple=True, help=ARG_HELP)
@_json_option
@click.pass_context
def show(ctx: click.Context, work: str, key: str | None, arg_pairs: tuple[str, ...]) -> None:
    """The whole record of one entry (by KEY or --arg) and its runs."""
    values = _args(arg_pairs)
    if key is None and not values:
        raise click.UsageError("give a KEY or at least one --arg NAME=VALUE")
    store = _store(ctx)
    calls = store.calls(work, key=key, args=values)
    if not calls:
        known = {w["work"] for w in store.works()}
        if work not in known:
            raise Problem(f"no work named {work!r} in {store.safe_url()}")
        raise Problem(f"no entry of {work} matches {key or values}")
    if len(calls) > 1:
        keys = ", ".join(c.key for c in calls[:5])
        raise Problem(f"{len(calls)} entries of {work} match; name one by KEY ({keys} ...)")
    call = calls[0]
    runs = store.history(work, key=call.key, limit=None)
    # Read from the pickle's opcodes: loading a stored value runs what it names.
    result_type = store.result_type(work, call.key)
    record = {"call": call, "result_type": result_type, "runs": runs}
    if ctx.obj["json"]:
        click.echo(json.dumps(_plain(record), indent=2, ensure_ascii=False, default=str))
        return
    for field in Call._fields:
        click.echo(f"{field:>13}: {_cell(getattr(call, field))}")
    click.echo(f"{'result_type':>13}: {_cell(result_type)}")
    for run in runs:
        click.echo(
            f"\nrun {run.id}: {run.status} at {_cell(run.started_at)} on {run.host}:{run.pid}"
            f" ({_cell(run.duration_s)} s)"
        )
        if run.error_type:
            click.echo(f"  {run.error_type}: {run.error}")
        if run.traceback:
            click.echo("  " + run.traceback.rstrip().replace("\n", "\n  "))


@cli.command()
@click.argument("work")
@click.option("--arg", "arg_pairs", multiple=True, help=ARG_HELP)
@click.option("--key", help="Exactly this key.")
@click.option("--status", type=click.Choice(RUN_STATUSES[:3]))
@click.option("--older-than", help="Only entries last finished longer ago than this (30d).")
@click.option("--all", "everything", is_flag=True, help="Every entry of WORK.")
@click.option("--dry-run", is_flag=True, help="Print what would be removed; remove nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before removing several entries.")
@click.option(
    "--force",
    is_flag=True,
    help="Also running entries: their result is recorded but not served; the next call runs.",
)
@_json_option
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
    """Remove entries so their next call runs again (the history stays).

    A running entry is left alone unless --force: then it is marked so that its result,
    once its run ends, is not served and the next call runs again.
    """
    values = _args(arg_pairs)
    if not (values or key or status or older_than or everything):
        raise click.UsageError("say what to forget: --arg, --key, --status, --older-than or --all")
    age = _duration(older_than, "--older-than") if older_than else None
    store = _store(ctx)
    calls = store.calls(work, key=key, args=values)
    if status:
        calls = [c for c in calls if c.status == status]
    if age is not None:
        cutoff = _dt.datetime.now(_dt.timezone.utc) - age
        calls = [c for c in calls if (c.finished_at or c.created_at) < cutoff]
    if not ctx.obj["json"]:
        for c in calls:
            click.echo(
                f"{'would forget' if dry_run else 'forget'} {c.work} {c.key} {_cell(c.args)} [{c.status}]"
            )
    if dry_run or not calls:
        if ctx.obj["json"]:
            click.echo(
                json.dumps({"forgotten": 0, "matched": _plain(calls), "dry_run": dry_run}, indent=2)
            )
        elif not calls:
            click.echo("nothing matches")
        return
    if len(calls) > 1 and not yes:
        if not _interactive():
            raise Problem(f"{len(calls)} entries match; add --yes to forget them all")
        click.confirm(f"Forget {len(calls)} entries?", abort=True)
    n = store.forget_calls(calls, force=force)
    # As listed a moment ago: a count for people, the store decided entry by entry.
    running = 0 if force else sum(c.status == "running" for c in calls)
    if ctx.obj["json"]:
        out = {"forgotten": n, "matched": _plain(calls), "dry_run": False, "left_running": running}
        click.echo(json.dumps(out, indent=2))
    else:
        click.echo(f"forgot {n} entr{'y' if n == 1 else 'ies'}")
        if running:
            click.echo(
                f"left {running} running entr{'y' if running == 1 else 'ies'} alone "
                "(--force marks them to run again once they finish)"
            )


@cli.command()
@click.option(
    "--older-than",
    required=True,
    help="Remove entries (and with --history, runs) older than this (30d).",
)
@click.option("--history", "with_history", is_flag=True, help="Also remove runs older than that.")
@click.option("--vacuum", is_flag=True, help="Give the freed space back to the file system.")
@_json_option
@click.pass_context
def prune(ctx: click.Context, older_than: str, with_history: bool, vacuum: bool) -> None:
    """Remove stale and expired entries, sweep runs whose owner died, optionally old history."""
    age = _duration(older_than, "--older-than")
    result = _store(ctx).prune(age, history=with_history, vacuum=vacuum)
    if ctx.obj["json"]:
        click.echo(json.dumps(result))
    else:
        click.echo(
            f"removed {result['entries']} entries and {result['runs']} runs; "
            f"marked {result['interrupted']} dead runs interrupted"
        )


@cli.command()
@click.argument("query")
@_json_option
@click.pass_context
def sql(ctx: click.Context, query: str) -> None:
    """Run one read-only SQL statement and print its rows (writes are refused)."""
    columns, rows = _store(ctx).query(query)
    data = [dict(zip(columns, r, strict=False)) for r in rows]
    _emit(ctx, "", columns, [list(r) for r in rows], data)


@cli.command()
@_json_option
@click.pass_context
def stats(ctx: click.Context) -> None:
    """Works, entries, runs by status, the database's location and size, the schema revision."""
    data = _store(ctx).stats()
    if ctx.obj["json"]:
        click.echo(json.dumps(data, indent=2))
        return
    for k, v in data.items():
        click.echo(f"{k:>15}: {json.dumps(v) if isinstance(v, dict) else v}")


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
        from . import periods

        now = _dt.datetime.fromtimestamp(periods.clock(), _dt.timezone.utc)  # the periods' clock
        return now - _duration(text, what)
    try:
        if len(text) == 10:
            return _dt.date.fromisoformat(text)
        return _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
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


def _calendar_grids(rows: list[Any]) -> list[tuple[list[str], list[Any]]]:
    """Rows grouped by their periods (works of one schedule share a grid), in row order."""
    grids: dict[tuple[str, ...], list[Any]] = {}
    for row in rows:
        grids.setdefault(tuple(label for label, _ in row.cells), []).append(row)
    return [(list(labels), group) for labels, group in grids.items()]


def _draw_calendar(rows: list[Any]) -> None:
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
@_json_option
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
    if ctx.obj["json"]:
        click.echo(json.dumps([r.as_dict() for r in rows], indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no work with every= has run in this store")
        return
    if _terminal():
        _draw_calendar(rows)
        return
    # For a program: one header line of full labels per schedule, then a line per work.
    for labels, group in _calendar_grids(rows):
        click.echo("\t".join(["work", *labels]))
        for row in group:
            click.echo("\t".join([row.work, *(status for _, status in row.cells)]))


def _import_work(spec: str) -> Any:
    """``MODULE:ATTR`` imported as ``uvicorn app:app`` does: the current directory first on
    the path, ATTR may be dotted; a Work subclass is made with no arguments."""
    import importlib
    import os

    from .work import Work

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
    found: Any = module
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


def _period_arg(work: Any, text: str, what: str) -> Any:
    """A period label of the work's schedule (``2026-11-24``, ``2026-W48``), or an ISO date
    naming the period that holds it (``2026-11-24`` for a weekly work)."""
    from .periods import Period

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
@_json_option
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
    from . import _periodic
    from .store import get_store

    values = _args(arg_pairs)
    work = _import_work(spec)
    if work._cw_options.store is None and ctx.obj["url"]:
        work._cw_options = work._cw_options._replace(store=get_store(ctx.obj["url"]))
    first = _period_arg(work, start, "--from")
    last = None if end is None else _period_arg(work, end, "--to")
    try:
        first, last = work._period_range(first, last, "backfill")
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--from/--to") from None
    if _terminal() and not ctx.obj["json"]:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task(f"{work.name}", total=None)

            def advance(label: str, outcome: str, total: int) -> None:
                bar.update(task, total=total, advance=1, description=f"{work.name} {label}")

            report = _periodic.backfill(work, first, last, (), values, dry_run, advance)
    else:
        report = _periodic.backfill(work, first, last, (), values, dry_run)
    if ctx.obj["json"]:
        click.echo(
            json.dumps({"work": work.name, "dry_run": dry_run, **report._asdict()}, indent=2)
        )
    else:
        for label in report.would_run:
            click.echo(f"would run {label}")
        for label in report.ran:
            click.echo(f"ran {label}")
        for label, error in report.failed.items():
            click.echo(f"failed {label}: {error}")
        click.echo(
            f"{work.name} {first.label} .. {last.label}: "
            + (
                f"{len(report.would_run)} would run, {len(report.hit)} already succeeded"
                if dry_run
                else f"{len(report.ran)} ran, {len(report.failed)} failed, "
                f"{len(report.hit)} already succeeded"
            )
        )
    if report.failed:
        raise Problem(f"{len(report.failed)} of the periods failed: {', '.join(report.failed)}")


@cli.group()
def db() -> None:
    """Schema migrations (Alembic)."""


@db.command()
@click.argument("revision", default="head")
@click.pass_context
def upgrade(ctx: click.Context, revision: str) -> None:
    """Create or upgrade the schema (the one command that may create a database)."""
    store = _store(ctx, create=True)
    store.upgrade(revision)
    click.echo(f"{store.safe_url()} is at revision {store.revision()}")


@db.command()
@click.pass_context
def current(ctx: click.Context) -> None:
    """The schema revision the store is at."""
    store = Store(ctx.obj["url"], create=False)
    if store.path is not None:
        store.lookup("", "")
    click.echo(store.revision() or "none")


@db.command()
@click.argument("revision")
@click.pass_context
def downgrade(ctx: click.Context, revision: str) -> None:
    """Downgrade the schema to REVISION ('base' drops cachework's tables)."""
    store = Store(ctx.obj["url"], create=False)
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

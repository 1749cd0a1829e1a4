"""How the ``cachework`` command prints: one layer, the formats users of sqlite-utils know.

A listing (works, history, sql, calendar) is a rich table on a terminal and an aligned
plain table when piped (people read it through ``less`` or ``grep``); programs ask for
``--json`` (a list of objects), ``--csv`` or ``--tsv`` (the csv module's quoting, every
field the JSON has). A record (stats, show, what prune or forget did) is ``field: value``
lines or a sentence for people and one JSON object with ``--json``. Every JSON document is
indented the same way. The options are shared decorators, so a new command gets them all.
"""

from __future__ import annotations

import csv
import datetime as _dt
import functools
import io
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar, cast

import click

F = TypeVar("F", bound=Callable[..., object])

#: The formats for programs; without one, people get a table (or lines).
FORMATS = ("json", "csv", "tsv")
_HELP = {
    "json": "One JSON document: a list of objects for a listing, an object for a record.",
    "csv": "Comma-separated values with a header line.",
    "tsv": "Tab-separated values with a header line (csv quoting).",
}


def terminal() -> bool:
    """Whether people read the output on a terminal (a rich table) or it is piped."""
    return sys.stdout.isatty()


def _choose(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """Record the format asked for, before the subcommand (``cachework --json works``) or
    after it (``cachework works --json``); two different ones are a usage error."""
    if not value:
        return
    obj = ctx.ensure_object(dict)
    chosen = obj.get("format")
    if chosen is not None and chosen != param.name:
        raise click.UsageError(
            f"choose one of --json, --csv and --tsv, not --{chosen} and --{param.name}"
        )
    obj["format"] = param.name


def _flag(name: str) -> Callable[[F], F]:
    return click.option(
        f"--{name}", name, is_flag=True, expose_value=False, callback=_choose, help=_HELP[name]
    )


def output_options(f: F) -> F:
    """``--json``, ``--csv`` and ``--tsv``: for every listing command (and the group)."""
    for name in reversed(FORMATS):
        f = _flag(name)(f)
    return f


def json_option(f: F) -> F:
    """``--json``: for a command that prints one record. ``cachework --csv stats`` is
    refused before the command does anything (``forget`` would have forgotten first)."""

    @functools.wraps(f)
    def checked(*args: object, **kwargs: object) -> object:
        ctx = click.get_current_context()
        fmt = chosen(ctx)
        if fmt not in (None, "json"):
            raise click.UsageError(f"{ctx.info_name} prints one record: --json, not --{fmt}")
        return f(*args, **kwargs)

    return _flag("json")(cast(F, checked))


def chosen(ctx: click.Context) -> str | None:
    """The format asked for (``json``, ``csv``, ``tsv``), or None: for people."""
    return ctx.ensure_object(dict).get("format")


def plain(value: object) -> object:
    """``value`` as JSON holds it: records as objects, times in ISO 8601, bytes by size."""
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, tuple) and hasattr(value, "_asdict"):  # Run, Call
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (bytes, memoryview)):
        return f"<{len(value)} bytes>"
    return value


def echo_json(document: object) -> None:
    click.echo(json.dumps(plain(document), indent=2, ensure_ascii=False, default=str))


def cell(value: object) -> str:
    """A value as people read it in a table: seconds to the millisecond, times to the second,
    bytes by their size (as JSON and CSV give them)."""
    if value is None:
        return ""
    if isinstance(value, (bytes, memoryview)):
        return f"<{len(value)} bytes>"
    if isinstance(value, _dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _field(value: object) -> str:
    """A value in a CSV/TSV field: what the JSON says, written as text (no rounding)."""
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _row(record: object, fields: Sequence[str]) -> list[object]:
    if isinstance(record, Mapping):
        return [record.get(f) for f in fields]
    if isinstance(record, (list, tuple)) and not hasattr(record, "_fields"):
        return list(record)  # a row of ``sql``: by position, since two columns may share a name
    return [getattr(record, f) for f in fields]


def unique_names(columns: Sequence[str]) -> list[str]:
    """The names of a JSON object's fields for these columns: a name seen before gets the
    first free suffix (``status``, ``status_2``), so no column of a join is lost."""
    out: list[str] = []
    taken = set(columns)
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            n = 2
            while f"{name}_{n}" in taken:
                n += 1
            name = f"{name}_{n}"
            taken.add(name)
        seen.add(name)
        out.append(name)
    return out


def aligned(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain table for a pipe: columns padded to their width (numbers to the right), no
    box characters, one line per row, so ``grep`` and ``cut -c`` see whole rows."""
    from rich.cells import cell_len  # wide characters take two columns

    texts = [[cell(v).replace("\t", " ").replace("\n", " ") for v in row] for row in rows]
    lines = [list(columns), *texts]
    widths = [max(cell_len(line[i]) for line in lines) for i in range(len(columns))]
    numeric = [
        bool(rows)
        and all(
            isinstance(r[i], (int, float)) and not isinstance(r[i], bool) or r[i] is None
            for r in rows
        )
        for i in range(len(columns))
    ]
    out = []
    for line in lines:
        padded = []
        for text, width, right in zip(line, widths, numeric, strict=True):
            pad = " " * (width - cell_len(text))
            padded.append(pad + text if right else text + pad)
        out.append("  ".join(padded).rstrip())
    return "\n".join(out)


def listing(
    ctx: click.Context,
    fields: Sequence[str],
    records: Sequence[object],
    *,
    columns: Sequence[str] | None = None,
    title: str = "",
    document: Sequence[object] | None = None,
    people: Callable[[], None] | None = None,
) -> None:
    """Print a listing of ``records`` (named tuples or mappings) in the format asked for.

    ``fields`` are what programs get (every JSON field, the CSV header); ``columns`` what a
    table shows (default: the fields). ``document`` replaces the JSON list where a record
    nests (the calendar's periods), ``people`` the table where a command draws its own.
    """
    fmt = chosen(ctx)
    if fmt == "json":
        echo_json(document if document is not None else list(records))
    elif fmt in ("csv", "tsv"):
        buffer = io.StringIO()
        writer = csv.writer(
            buffer, dialect="excel" if fmt == "csv" else "excel-tab", lineterminator="\n"
        )
        writer.writerow(fields)
        writer.writerows([_field(v) for v in _row(r, fields)] for r in records)
        click.echo(buffer.getvalue(), nl=False)
    elif people is not None:
        people()
    else:
        shown = list(columns or fields)
        rows = [_row(r, shown) for r in records]
        if terminal():
            from rich.console import Console
            from rich.table import Table

            table = Table(title=title or None)
            for c in shown:
                table.add_column(c)
            for r in rows:
                table.add_row(*(cell(v) for v in r))
            Console().print(table)
        else:
            click.echo(aligned(shown, rows))


def record(ctx: click.Context, data: Mapping[str, object], text: str | None = None) -> None:
    """Print one record: ``text`` for people (default ``field: value`` lines), or one JSON
    object. CSV and TSV are for listings: asking for them here is a usage error."""
    fmt = chosen(ctx)
    if fmt == "json":
        echo_json(data)
    elif fmt is not None:
        raise click.UsageError(f"{ctx.info_name} prints one record: --json, not --{fmt}")
    elif text is not None:
        click.echo(text)
    else:
        width = max((len(k) for k in data), default=0)
        click.echo("\n".join(f"{k:>{width}}: {cell(v)}" for k, v in data.items()))

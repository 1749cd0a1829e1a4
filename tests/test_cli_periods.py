"""`cachework calendar` and `cachework backfill`: the period commands, through Click's runner
and as a user runs them (a real process)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import subprocess
import textwrap
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import daily_with_every_status, run_python

import cachework
from cachework._cli import CALENDAR_GLYPHS, cli

UTC = dt.timezone.utc
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def invoke(url, *args):
    return CliRunner().invoke(cli, ["--url", url, *args])


def _daily_with_every_status(url):
    """``daily`` from the 20th: succeeded, failed, never run, interrupted; ``weekly``
    beside it (a schedule of its own: a grid of its own)."""

    daily = daily_with_every_status(url)

    @cachework.work(name="weekly", store=url, every="week", tz="UTC")
    def weekly():
        return 1

    weekly()

    @cachework.work(name="plain", store=url)
    def plain():
        return 1

    plain()
    return daily


EXPECTED = [
    ("2026-11-18", ""),  # before the first run: nothing due
    ("2026-11-19", ""),
    ("2026-11-20", "succeeded"),
    ("2026-11-21", "failed"),
    ("2026-11-22", "never run"),  # no row in the database at all
    ("2026-11-23", "interrupted"),
    ("2026-11-24", "never run"),  # today, not run yet
]


def test_calendar_json(url, clock):
    _daily_with_every_status(url)
    r = invoke(url, "calendar", "--json", "--since", "2026-11-18")
    assert r.exit_code == 0, r.output
    grid = json.loads(r.output)
    assert [row["work"] for row in grid] == ["daily", "weekly"]  # only works with every=
    daily, weekly = grid
    assert {k: daily[k] for k in ("every", "tz", "lag")} == {"every": "day", "tz": "UTC", "lag": 0}
    # JSON says null where nothing was expected (a table leaves the cell blank).
    assert [(p["period"], p["status"]) for p in daily["periods"]] == [
        (label, status or None) for label, status in EXPECTED
    ]
    assert weekly["periods"] == [  # the week holding the 18th, and this one
        {"period": "2026-W47", "status": None},
        {"period": "2026-W48", "status": "succeeded"},
    ]
    # WORK ... and --until narrow it; a duration for --since counts back from now.
    r = invoke(url, "--json", "calendar", "daily", "--since", "3d", "--until", "2026-11-22")
    ((row),) = json.loads(r.output)
    assert [(p["period"], p["status"]) for p in row["periods"]] == EXPECTED[3:5]
    # The same grid as the library gives.
    assert grid == [r.as_dict() for r in cachework.Store(url).calendar(since=dt.date(2026, 11, 18))]


def test_calendar_errors_are_one_line(url, clock):
    _daily_with_every_status(url)
    r = invoke(url, "calendar", "plain")
    assert r.exit_code == 1 and "no schedule recorded for plain" in r.output
    r = invoke(url, "calendar", "--since", "last tuesday")
    assert r.exit_code == 2 and "neither a duration" in r.output


def _grid(text: str, work: str) -> tuple[list[str], list[str]]:
    """The headers and the cells of ``work``'s row in a drawn grid."""
    lines = text.splitlines()
    (at,) = [i for i, line in enumerate(lines) if line.strip().startswith(work + " ")]
    header = next(line for line in reversed(lines[:at]) if line.strip().startswith("work"))
    heads = [h.strip() for h in header.split("│")[1:]]
    cells = [c.strip() for c in lines[at].split("│")[1:]]
    return heads, cells


def test_calendar_grid_on_a_terminal_has_each_statuss_glyph_and_colour(
    sqlite_url, clock, monkeypatch
):
    daily = _daily_with_every_status(sqlite_url)
    started, release = threading.Event(), threading.Event()

    @cachework.work(name="daily", store=sqlite_url, every="day", tz="UTC")
    def today(period):
        started.set()
        release.wait(60)
        return 1

    running = threading.Thread(target=today)
    running.start()
    assert started.wait(60)
    monkeypatch.setattr("cachework._output.terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("FORCE_COLOR", "1")
    try:
        r = invoke(sqlite_url, "calendar", "--since", "2026-11-18")
    finally:
        release.set()
        running.join(60)
    assert r.exit_code == 0, r.output
    plain = ANSI.sub("", r.output)
    assert "every day UTC: 2026-11-18 .. 2026-11-24" in plain
    heads, cells = _grid(plain, "daily")
    assert heads == ["11-18", "19", "20", "21", "22", "23", "24"]
    expected = [status for _, status in EXPECTED[:-1]] + ["running"]
    assert cells == [CALENDAR_GLYPHS[status][0].strip() for status in expected]
    assert cells == ["", "", "✔", "✘", "○", "!", "▶"]
    # Each status its own colour: the glyph comes drawn in its style.
    from rich.style import Style

    for status in ("succeeded", "failed", "running", "interrupted", "never run"):
        glyph, style = CALENDAR_GLYPHS[status]
        opening = Style.parse(style).render("|").partition("|")[0]
        assert opening and opening + glyph in r.output, status
    assert len({style for _, style in CALENDAR_GLYPHS.values()}) == len(CALENDAR_GLYPHS)
    heads, cells = _grid(plain, "weekly")  # a schedule of its own: a grid of its own
    assert cells[-1] == "✔" and heads[-1] == "W48"
    assert "plain" not in plain
    assert daily.run_for("2026-11-24") == 1  # the running call finished: a hit


def test_calendar_piped_is_an_aligned_grid_and_tsv_a_row_per_period(sqlite_url, clock):
    _daily_with_every_status(sqlite_url)
    r = invoke(sqlite_url, "calendar", "daily", "--since", "2026-11-18")
    assert r.exit_code == 0, r.output
    header, row = r.output.splitlines()
    assert header.split() == ["work", *(label for label, _ in EXPECTED)]
    # Each status word under its period's label (blank cells stay blank).
    for label, status in EXPECTED:
        assert row[header.index(label) :].startswith(status or " "), label
    r = invoke(sqlite_url, "calendar", "daily", "--since", "2026-11-18", "--tsv")
    rows = list(csv.DictReader(io.StringIO(r.output), dialect="excel-tab"))
    assert [(x["work"], x["period"], x["status"]) for x in rows] == [
        ("daily", label, status) for label, status in EXPECTED
    ]
    assert {(x["every"], x["tz"], x["lag"]) for x in rows} == {("day", "UTC", "0")}


# -- cachework backfill MODULE:ATTR -----------------------------------------------------------------
PIPELINE = """
import datetime as dt

import cachework
from cachework import _periods as periods

# The test's "now": 2026-11-24 10:00 UTC.
periods.clock = lambda: dt.datetime(2026, 11, 24, 10, tzinfo=dt.timezone.utc).timestamp()

@cachework.work(name="ingest", store="pipeline.db", every="day", tz="UTC", lag=1)
def ingest(period):
    if period.label == "2026-11-21":
        raise ValueError("the 21st's file is corrupt")
    return period.label

class NotAWork:
    pass
"""


def backfill_cli(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m cachework backfill ...`` as a user runs it, in ``folder``."""
    here = str(Path(__file__).resolve().parents[1])  # this tree's cachework, not an installed one
    env = {**os.environ, "PYTHONPATH": here}
    return run_python("-m", "cachework", *args, cwd=folder, env=env)


def test_backfill_from_the_command_line_with_one_failing_period(tmp_path):
    (tmp_path / "pipeline.py").write_text(textwrap.dedent(PIPELINE))
    # Nothing ran yet: a dry run lists the periods, runs none, and succeeds.
    r = backfill_cli(tmp_path, "backfill", "pipeline:ingest", "--from", "2026-11-19", "--dry-run")
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    assert r.stdout.splitlines() == [
        *(f"would run 2026-11-{d}" for d in (19, 20, 21, 22, 23)),  # lag=1: up to yesterday
        "ingest 2026-11-19 .. 2026-11-23: 5 would run, 0 already succeeded",
    ]
    assert not (tmp_path / "pipeline.db").exists() or not cachework.Store(
        tmp_path / "pipeline.db"
    ).history("ingest")

    r = backfill_cli(tmp_path, "backfill", "pipeline:ingest", "--from", "2026-11-19")
    assert r.returncode == 1
    assert r.stdout.splitlines() == [
        "ran 2026-11-19",
        "ran 2026-11-20",
        "ran 2026-11-22",
        "ran 2026-11-23",
        "failed 2026-11-21: ValueError: the 21st's file is corrupt",
        "ingest 2026-11-19 .. 2026-11-23: 4 ran, 1 failed, 0 already succeeded",
    ]
    assert r.stderr.count("\n") == 1 and "1 of the periods failed: 2026-11-21" in r.stderr
    store = cachework.Store(tmp_path / "pipeline.db")
    runs = store.history("ingest", limit=None)
    assert [(run.args["_period"], run.status) for run in reversed(runs)] == [
        ("2026-11-19", "succeeded"),
        ("2026-11-20", "succeeded"),
        ("2026-11-21", "failed"),  # oldest first, the failure did not stop the rest
        ("2026-11-22", "succeeded"),
        ("2026-11-23", "succeeded"),
    ]
    (failed,) = store.history("ingest", status="failed")
    assert failed.error_type == "ValueError" and "corrupt" in failed.error

    # Again, as JSON, to a given end: only the failed period runs (and fails again).
    r = backfill_cli(
        tmp_path,
        "backfill",
        "pipeline:ingest",
        "--from",
        "2026-11-20",
        "--to",
        "2026-11-22",
        "--json",
    )
    assert r.returncode == 1
    report = json.loads(r.stdout)
    assert report == {
        "work": "ingest",
        "dry_run": False,
        "ran": [],
        "hit": ["2026-11-20", "2026-11-22"],
        "failed": {"2026-11-21": "ValueError: the 21st's file is corrupt"},
        "would_run": [],
    }
    assert len(store.history("ingest", limit=None)) == 6


@pytest.mark.parametrize(
    "spec,message",
    [
        ("pipeline", "is not MODULE:ATTR"),
        ("nosuchmodule:ingest", "cannot import module 'nosuchmodule'"),
        ("broken:ingest", "importing broken failed: ModuleNotFoundError: No module named 'nope'"),
        ("pipeline:missing", "module pipeline has no attribute 'missing'"),
        ("pipeline:NotAWork", "not a cachework Work or @work function"),
        ("pipeline:dt", "not a cachework Work or @work function"),
        ("plain:plain", "has no every= periods to backfill"),
    ],
)
def test_backfill_names_what_could_not_be_imported(tmp_path, spec, message):
    (tmp_path / "pipeline.py").write_text(textwrap.dedent(PIPELINE))
    (tmp_path / "broken.py").write_text("import nope\n")
    (tmp_path / "plain.py").write_text(
        "import cachework\n@cachework.work(store='p.db')\ndef plain():\n    return 1\n"
    )
    r = backfill_cli(tmp_path, "backfill", spec, "--from", "2026-11-19")
    assert r.returncode in (1, 2) and message in r.stderr, r.stderr
    assert r.stdout == ""

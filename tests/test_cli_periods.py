"""`cachework calendar` and `cachework backfill`: the period commands, through Click's runner
and as a user runs them (a real process)."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading

import pytest
from click.testing import CliRunner

import cachework
from cachework import _periodic, periods
from cachework.cli import CALENDAR_GLYPHS, cli

UTC = dt.timezone.utc
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def clock(monkeypatch):
    now = [dt.datetime(2026, 11, 24, 10, tzinfo=UTC).timestamp()]
    monkeypatch.setattr(periods, "clock", lambda: now[0])
    monkeypatch.setattr(_periodic, "_recorded", set())
    return now


def invoke(url, *args):
    return CliRunner().invoke(cli, ["--url", url, *args])


def _daily_with_every_status(url):
    """``daily`` from the 20th: succeeded, failed, never run, interrupted; ``weekly``
    beside it (a schedule of its own: a grid of its own)."""

    @cachework.work(name="daily", store=url, every="day", tz="UTC")
    def daily(period):
        if period.label == "2026-11-21":
            raise ValueError("bad day")
        if period.label == "2026-11-23":
            raise KeyboardInterrupt  # stopped: recorded interrupted, entry released
        return period.label

    daily.run_for("2026-11-20")
    with pytest.raises(ValueError):
        daily.run_for("2026-11-21")
    with pytest.raises(KeyboardInterrupt):
        daily.run_for("2026-11-23")

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
    assert [(p["period"], p["status"]) for p in daily["periods"]] == EXPECTED
    assert weekly["periods"] == [  # the week holding the 18th, and this one
        {"period": "2026-W47", "status": ""},
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
    monkeypatch.setattr("cachework.cli._terminal", lambda: True)
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


def test_calendar_piped_is_tab_separated_text(sqlite_url, clock):
    _daily_with_every_status(sqlite_url)
    r = invoke(sqlite_url, "calendar", "daily", "--since", "2026-11-18")
    assert r.exit_code == 0, r.output
    header, row = r.output.splitlines()
    assert header.split("\t") == ["work", *(label for label, _ in EXPECTED)]
    assert row.split("\t") == ["daily", *(status for _, status in EXPECTED)]

"""Every recipe in docs/sql.md (and the README's) runs, in its dialect's spelling, on a real store."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import docblocks
import pytest
import sqlalchemy as sa

import cachework

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```sql\n-- (sqlite|postgresql|both)[^\n]*\n(.*?)```", re.S)


def recipes(path: Path, dialect: str) -> dict[str, str]:
    """Recipe heading -> SQL for this dialect."""
    out = {}
    for section in re.split(r"\n### ", path.read_text())[1:]:
        title = section.splitlines()[0]
        for which, sql in BLOCK.findall(section):
            if which in (dialect, "both"):
                out[title] = sql.strip()
    return out


@pytest.fixture
def built(url, tmp_path):
    """A store with successes, a failure yesterday, an interrupted run and a run in progress."""

    @cachework.work(name="ingest", store=url)
    def ingest(day: str) -> int:
        if day == "2022-05-27":
            raise ValueError("bad day")
        return len(day)

    for day in ("2022-05-25", "2022-05-26"):
        ingest(day)
    with pytest.raises(ValueError):
        ingest("2022-05-27")

    @cachework.work(name="seed", store=url, cache_calls=False)
    def seed(**kwargs):
        return None

    for _ in range(3):
        seed(value=1)
    seed(value=10)
    engine = sa.create_engine(url)
    yesterday = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=40)
    with engine.begin() as conn:
        runs = cachework.schema.runs
        calls = cachework.schema.calls
        conn.execute(sa.update(runs).where(runs.c.status == "failed").values(started_at=yesterday))
        conn.execute(
            sa.update(calls)
            .where(sa.func.cast(calls.c.args, sa.Text).contains("2022-05-25"))
            .values(finished_at=old)
        )
    engine.dispose()
    # A run in progress in another process, then one killed: running and interrupted rows.
    out = tmp_path / "started"
    worker = str(Path(__file__).with_name("workers.py"))
    holder, victim = (
        subprocess.Popen([sys.executable, worker, "hold", url, str(out), k, "60"]) for k in "ab"
    )
    deadline = time.monotonic() + 30
    while not (out.exists() and len(out.read_text().splitlines()) == 2):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    cachework.Store(url).sweep()
    yield cachework.Store(url)
    holder.kill()
    holder.wait()


def test_docs_recipes(built):
    store = built
    found = recipes(ROOT / "docs" / "sql.md", store.dialect)
    assert len(found) >= 8

    def q(title):
        (match,) = [t for t in found if t.split(" ", 1)[0] == title]
        return store.query(found[match])[1]

    assert [r[0] for r in q("1.")] == ["2022-05-25", "2022-05-26"]
    assert [(r[0], r[1], r[2]) for r in q("2.")] == [("ingest", "2022-05-27", "ValueError")]
    durations = {r[0]: r for r in q("3.")}
    assert durations["ingest"][1] == 2 and durations["seed"][1] == 4
    assert all(r[3] is not None for r in durations.values())
    running = q("4.")
    assert [(r[0], r[3].rsplit(":", 1)[0]) for r in running] == [("hold", store._host)]
    interrupted = q("5.")
    assert [r[1] for r in interrupted] == ["hold"] and "died" in interrupted[0][6]
    assert [r[0] for r in q("6.")] == ["ingest"]
    today = {(r[0], r[1]): r[2] for r in q("7.")}
    assert today[("ingest", "succeeded")] == 2 and today[("seed", "succeeded")] == 4
    assert [r[0] for r in q("8.")] == ["ingest"]
    per_value = {(r[0], str(r[1])): r[2] for r in q("9.")}
    assert per_value[("seed", "1")] == 3 and per_value[("seed", "10")] == 1


def test_readme_recipes(built):
    """The README's three recipes, in the spelling of the store's dialect (both are given)."""
    store = built
    (block,) = [
        b
        for b in docblocks.blocks(ROOT / "README.md")
        if b.lang == "sql" and docblocks.sql_dialect(b) == store.dialect
    ]
    days, failures, means = (store.query(s)[1] for s in docblocks.statements(block))
    assert [d[0] for d in days] == ["2022-05-25", "2022-05-26"]
    assert [f[2] for f in failures] == ["ValueError"]
    assert {m[0] for m in means} == {"ingest", "seed"}


SQL_PAGES = [p for p in docblocks.pages() if any(b.lang == "sql" for b in docblocks.blocks(p))]


@pytest.mark.parametrize("page", SQL_PAGES, ids=lambda p: p.name)
def test_every_sql_block_of_the_docs_runs(built, page):
    """Every SQL block of README.md and docs/*.md written for this dialect runs read-only."""
    store = built
    ran = docblocks.run_sql(docblocks.blocks(page), store.query, store.dialect)
    assert ran > 0


def test_missing_days_recipe(url, monkeypatch):
    """Recipe 10 lists the days with no succeeded entry, as work.missing does."""
    from cachework import _periods as periods

    monkeypatch.setattr(
        periods, "clock", lambda: dt.datetime(2026, 11, 24, 10, tzinfo=dt.timezone.utc).timestamp()
    )

    @cachework.work(name="daily", store=url, every="day", tz="UTC")
    def daily(period):
        if period.label == "2026-11-22":
            raise ValueError("no data")
        return period.label

    for day in ("2026-11-19", "2026-11-20", "2026-11-22", "2026-11-24"):
        try:
            daily.run_for(day)
        except ValueError:
            pass

    @cachework.work(name="other", store=url, every="day", tz="UTC")
    def other():
        return 1

    other.run_for("2026-11-21")  # another work's day does not count
    store = cachework.Store(url)
    sql = recipes(ROOT / "docs" / "sql.md", store.dialect)
    (title,) = [t for t in sql if t.startswith("10. ")]
    days = [r[0] for r in store.query(sql[title])[1]]
    assert days == ["2026-11-21", "2026-11-22", "2026-11-23"]
    assert days == daily.missing("2026-11-20", "2026-11-24")

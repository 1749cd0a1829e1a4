"""Schema upgrades: a store written by the previous release's code opens, upgrades in place,
keeps every row, and its entries keep hitting."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3

import pytest
import sqlalchemy as sa

import cachework
from cachework import _periods as periods
from cachework import _store as store_mod
from cachework.schema import calls, runs

UTC = dt.timezone.utc


def _rows(url: str) -> dict[str, list[tuple]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                "calls": [
                    tuple(r)
                    for r in conn.execute(sa.select(calls).order_by(calls.c.work, calls.c.key))
                ],
                # The columns of 0001: a later revision's (reason, args_key) are new after it.
                "runs": [
                    tuple(r)
                    for r in conn.execute(
                        sa.select(
                            *(c for c in runs.c if c.name not in ("reason", "args_key"))
                        ).order_by(runs.c.id)
                    )
                ],
            }
    finally:
        engine.dispose()


def _works(url: str, ran: list[str]):
    """The same works, as one release and the next define them."""

    @cachework.work(name="ingest", store=url)
    def ingest(day: str, *, size: int = 1) -> dict:
        ran.append(f"ingest {day}")
        return {"day": day, "rows": [size] * 3}

    @cachework.work(name="daily", store=url, every="day", tz="Europe/Paris")
    def daily() -> str:
        ran.append("daily")
        return "done"

    @cachework.work(name="flaky", store=url)
    def flaky(n: int) -> int:
        ran.append(f"flaky {n}")
        raise ValueError("always")

    class Totals(cachework.Work):
        def run(self, region: str) -> int:
            ran.append(f"totals {region}")
            self.region = region
            return len(region)

    return ingest, daily, flaky, Totals(name="totals", store=url)


def test_a_store_written_at_0001_upgrades_keeps_every_row_and_hits(url, monkeypatch):
    monkeypatch.setattr(
        periods, "clock", lambda: dt.datetime(2026, 11, 25, 12, tzinfo=UTC).timestamp()
    )
    ran: list[str] = []
    # The previous release's store: written by these works, then taken down to 0001 (which
    # drops what later revisions added: the works table, the runs' reason).
    ingest, daily, flaky, totals = _works(url, ran)
    assert ingest("2022-05-25") == {"day": "2022-05-25", "rows": [1, 1, 1]}
    ingest("2022-05-26", size=2)
    assert daily() == "done"
    with pytest.raises(ValueError):
        flaky(1)
    assert totals.run("north") == 5
    old = cachework.Store(url)
    old.downgrade("0001")
    assert old.revision() == "0001"
    old.close()
    for s in store_mod._registry.values():
        s.close()
    store_mod._registry.clear()
    before = _rows(url)
    assert len(before["calls"]) == 5 and len(before["runs"]) == 5
    ran.clear()

    new = cachework.Store(url)
    assert new.lookup("ingest", "0" * 32) is None  # opening upgrades
    assert new.revision() == store_mod.SCHEMA_REVISION == "0003"
    assert _rows(url) == before
    ingest, daily, flaky, totals = _works(url, ran)
    assert ingest("2022-05-25") == {"day": "2022-05-25", "rows": [1, 1, 1]}
    assert ingest(day="2022-05-26", size=2) == {"day": "2022-05-26", "rows": [2, 2, 2]}
    assert daily() == "done"
    assert totals.run("north") == 5 and totals.region == "north"
    assert ran == []  # every entry hit
    assert _rows(url) == before  # hits write nothing
    with pytest.raises(ValueError):
        flaky(1)  # a failure still runs again
    assert ran == ["flaky 1"]
    _, found = new.query("SELECT count(*) FROM cachework_works")
    assert found[0][0] == 0


def _store_at_0001(path) -> None:
    """A store as the previous release left it: entries of a plain and an every= work,
    schema at 0001 (no cachework_works table)."""

    @cachework.work(name="ingest", store=str(path))
    def ingest(day: str) -> str:
        return day.upper()

    @cachework.work(name="daily", store=str(path), every="day", tz="UTC")
    def daily() -> str:
        return "done"

    ingest("a")
    daily.run_for("2026-11-24")
    store = cachework.Store(path)
    store.downgrade("0001")
    assert store.revision() == "0001"
    store.close()
    conn = sqlite3.connect(path)
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert "cachework_works" not in tables and "cachework_calls" in tables
    for s in store_mod._registry.values():
        s.close()
    store_mod._registry.clear()


def test_a_read_only_store_at_0001_still_serves_hits(tmp_path):
    """0002 only adds a table that runs write: a store at 0001 that this process cannot
    upgrade (a read-only file system) serves every hit and every reading command as it is."""
    import subprocess
    import sys

    from conftest import run_script
    from test_hardening import read_only

    folder = tmp_path / "data"
    folder.mkdir()
    _store_at_0001(folder / "s.db")
    with read_only(folder) as view:
        before = sorted(os.listdir(view))
        code = f"""
        import datetime as dt, cachework
        from cachework import _periods as periods
        periods.clock = lambda: dt.datetime(2026, 11, 24, 12, tzinfo=dt.timezone.utc).timestamp()
        ran = []
        @cachework.work(name="ingest", store={str(view / "s.db")!r})
        def ingest(day):
            ran.append(day)
            return day
        @cachework.work(name="daily", store={str(view / "s.db")!r}, every="day", tz="UTC")
        def daily():
            ran.append("daily")
            return "ran"
        print(ingest("a"), daily())
        try:
            ingest("new")
        except cachework.StoreError as e:
            print("StoreError", e)
        print("ran", ran)
        """
        out = run_script(code).stdout.splitlines()
        assert out[0] == "A done"  # both hit
        assert out[1].startswith("StoreError") and "read-only" in out[1]
        assert out[2] == "ran []"
        for args, expected in (
            (["db", "current"], "0001"),
            (["--json", "history", "ingest"], '"ingest"'),
        ):
            proc = subprocess.run(
                [sys.executable, "-m", "cachework", "--url", str(view / "s.db"), *args],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert (proc.returncode, proc.stderr) == (0, ""), args
            assert expected in proc.stdout
        assert sorted(os.listdir(view)) == before


def test_a_reading_command_opens_a_store_at_0001_without_upgrading_it(tmp_path, capsys):
    from cachework._cli import main

    path = tmp_path / "s.db"
    _store_at_0001(path)
    main(["--url", str(path), "db", "current"])  # exits only on an error
    assert capsys.readouterr().out == "0001\n"
    main(["--url", str(path), "--json", "works"])
    assert json.loads(capsys.readouterr().out)[0]["work"] == "daily"
    assert cachework.Store(path, create=False).revision() == "0001"
    assert cachework.Store(path).lookup("ingest", "0" * 32) is None  # a work's store upgrades
    assert cachework.Store(path).revision() == "0003"

"""Schema upgrades: a store written by the previous release's code opens, upgrades in place,
keeps every row, and its entries keep hitting."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

import cachework
from cachework import _migrate, periods
from cachework import store as store_mod
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
                "runs": [tuple(r) for r in conn.execute(sa.select(runs).order_by(runs.c.id))],
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
    upgrade = _migrate.upgrade
    ran: list[str] = []
    with monkeypatch.context() as old_release:
        # The library as it was at 0001: it knows no later revision and migrates to 0001.
        old_release.setattr(store_mod, "SCHEMA_REVISION", "0001")
        old_release.setattr(store_mod, "KNOWN_REVISIONS", ("0001",))
        old_release.setattr(
            _migrate, "upgrade", lambda engine, revision="head": upgrade(engine, "0001")
        )
        ingest, daily, flaky, totals = _works(url, ran)
        assert ingest("2022-05-25") == {"day": "2022-05-25", "rows": [1, 1, 1]}
        ingest("2022-05-26", size=2)
        assert daily() == "done"
        with pytest.raises(ValueError):
            flaky(1)
        assert totals.run("north") == 5
        old = cachework.Store(url)
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
    assert new.revision() == store_mod.SCHEMA_REVISION == "0002"
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

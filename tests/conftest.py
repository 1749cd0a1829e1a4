"""Fixtures: a fresh store per test, on SQLite and (when configured) on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

import cachework
from cachework import _store as _store

PG_ENV = "CACHEWORK_TEST_POSTGRES_URL"
PG_SKIP = (
    f"{PG_ENV} is not set: set it (e.g. postgresql+psycopg://postgres@127.0.0.1/test) "
    "to run the PostgreSQL cases"
)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in its own folder with no inherited store and a fresh store registry."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CACHEWORK_URL", raising=False)
    monkeypatch.delenv("CACHEWORK_HOST", raising=False)
    monkeypatch.delenv("CACHEWORK_LEASE", raising=False)
    _store._registry.clear()


def _pg_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def _pg_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_url() -> str:
    """A PostgreSQL URL whose search_path is a new, empty schema, dropped afterwards."""
    base = _pg_url()
    if base is None:
        pytest.skip(PG_SKIP)
    import sqlalchemy as sa

    schema = "cw_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(base)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except sa.exc.OperationalError as e:  # configured but unreachable: that is a failure
        pytest.fail(f"{PG_ENV} is set but PostgreSQL cannot be reached: {e.orig}")
    try:
        yield _pg_schema_url(base, schema)
    finally:
        for s in list(_store._registry.values()):
            s.close()
        _store._registry.clear()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every store-level test runs on both dialects."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def filled(url: str) -> str:
    """A store (both dialects) where ``ingest`` ran twice and failed once: what the command
    tests list, show and forget."""

    @cachework.work(name="ingest", store=url)
    def ingest(day: str, n: int = 1) -> dict:
        if day == "bad":
            raise ValueError("bad day")
        return {"day": day}

    ingest("2022-05-25")
    ingest("2022-05-26", n=3)
    with pytest.raises(ValueError):
        ingest("bad")
    return url


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Periods' "now" fixed at 2026-11-24 10:00 UTC (set ``clock[0]`` to move it), and this
    process as new: no schedule recorded yet."""
    from cachework import _periodic
    from cachework import _periods as periods

    now = [dt.datetime(2026, 11, 24, 10, tzinfo=dt.timezone.utc).timestamp()]
    monkeypatch.setattr(periods, "clock", lambda: now[0])
    monkeypatch.setattr(_periodic, "_recorded", set())
    return now


def daily_with_every_status(url: str, on_the_24th: Any = None) -> Any:
    """``daily`` (every day, UTC) run for the 20th (succeeded), 21st (failed) and 23rd
    (interrupted), the 22nd never run; ``on_the_24th`` is what its run of the 24th does."""

    @cachework.work(name="daily", store=url, every="day", tz="UTC")
    def daily(period: Any) -> str:
        if period.label == "2026-11-21":
            raise ValueError("bad day")
        if period.label == "2026-11-23":
            raise KeyboardInterrupt  # stopped: recorded interrupted, call released
        if period.label == "2026-11-24" and on_the_24th is not None:
            on_the_24th()
        return str(period.label)

    daily.run_for("2026-11-20")
    with pytest.raises(ValueError):
        daily.run_for("2026-11-21")
    with pytest.raises(KeyboardInterrupt):
        daily.run_for("2026-11-23")
    return daily


@pytest.fixture
def store(url: str) -> cachework.Store:
    s = cachework.Store(url)
    yield s
    s.close()


def run_script(
    code: str,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run Python code in a new process (a restart, another host, a crash)."""
    full_env = {**os.environ, **(env or {})}
    proc = run_python("-c", textwrap.dedent(code), env=full_env, cwd=cwd, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"script failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def run_python(
    *argv: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = False,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``python ARGV...`` (this interpreter) in a new process, its output captured as text."""
    return subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        check=check,
        timeout=timeout,
    )

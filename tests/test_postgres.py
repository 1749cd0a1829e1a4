"""PostgreSQL only: several hosts on one database, dropped connections, no leaked sessions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

import cachework

WORKERS = str(Path(__file__).with_name("workers.py"))


def _with(url: str, **params: str) -> str:
    extra = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{url}{'&' if '?' in url else '?'}{extra}"


def spawn(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, WORKERS, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def test_eight_hosts_one_key_run_once(pg_url, tmp_path):
    out = tmp_path / "runs.txt"
    start_at = str(time.time() + 1.5)
    procs = [
        spawn("same_key", pg_url, str(out), start_at, "0.5", env={"CACHEWORK_HOST": f"host-{i}"})
        for i in range(8)
    ]
    values = set()
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, stderr
        values.add(stdout)
    assert len(out.read_text().splitlines()) == 1 and len(values) == 1
    assert json.loads(values.pop())["x"] == 7


def test_eight_hosts_overlapping_keys(pg_url, tmp_path):
    out = tmp_path / "runs.txt"
    start_at = str(time.time() + 2.0)
    procs = [
        spawn(
            "many_keys",
            pg_url,
            str(out),
            start_at,
            str(100 * i),
            "300",
            env={"CACHEWORK_HOST": f"host-{i}"},
        )
        for i in range(8)
    ]
    for p in procs:
        _, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr
    assert sorted(map(int, out.read_text().split())) == list(range(1000))


def _terminate(app: str) -> int:
    base = os.environ["CACHEWORK_TEST_POSTGRES_URL"]
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        n = conn.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = :app AND pid <> pg_backend_pid()"
            ),
            {"app": app},
        ).scalar()
    engine.dispose()
    return n


def test_dropped_connections_during_a_run_record_once(pg_url, tmp_path):
    out = tmp_path / "runs.txt"
    victim_url = _with(pg_url, application_name="cw-victim")
    p = spawn("hold", victim_url, str(out), "k", "2", env={"CACHEWORK_LEASE": "2"})
    deadline = time.monotonic() + 30
    while not out.exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert _terminate("cw-victim") >= 1  # its claim connection (and heartbeat's, if any)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == 0, stderr
    assert stdout.startswith("done by")
    runs = cachework.Store(pg_url).history(work="hold", limit=None)
    assert [r.status for r in runs] == ["succeeded"]
    (call,) = cachework.Store(pg_url).calls("hold")
    assert call.status == "succeeded" and call.owner is None


def _sessions(app: str) -> int:
    engine = sa.create_engine(os.environ["CACHEWORK_TEST_POSTGRES_URL"])
    with engine.connect() as conn:
        n = conn.execute(
            sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :app"),
            {"app": app},
        ).scalar()
    engine.dispose()
    return n


def test_opening_and_closing_200_stores_leaks_no_session(pg_url):
    url = _with(pg_url, application_name="cw-leak")
    before = _sessions("cw-leak")
    for i in range(200):
        store = cachework.Store(url)

        @cachework.work(name="leak", store=store)
        def f(x):
            return x

        assert f(i % 3) == i % 3
        store.close()
    deadline = time.monotonic() + 10  # the server ends a closed session's backend a bit later
    while _sessions("cw-leak") != before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _sessions("cw-leak") == before


def test_args_are_jsonb(pg_url):
    @cachework.work(name="j", store=pg_url)
    def f(day, n=1):
        return n

    f("2022-05-25", n=4)
    cols, rows = cachework.Store(pg_url).query(
        "SELECT args->>'day', (args->>'n')::int, jsonb_typeof(args) FROM cachework_calls"
    )
    assert rows == [("2022-05-25", 4, "object")]


@pytest.mark.parametrize("tables", [("cachework_calls", "cachework_runs")])
def test_db_upgrade_prepares_a_shared_database(pg_url, tables):
    from click.testing import CliRunner

    from cachework._cli import cli

    r = CliRunner().invoke(cli, ["--url", pg_url, "db", "upgrade"])
    assert r.exit_code == 0, r.output
    engine = sa.create_engine(pg_url)
    names = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    assert set(tables) <= names


def test_a_forked_child_uses_its_own_connections(pg_url):
    import multiprocessing as mp

    @cachework.work(name="fork", store=pg_url)
    def f(x):
        return x * 2

    assert f(1) == 2
    cachework.Store(pg_url).history(work="fork")  # the parent's pool now holds a connection
    ctx = mp.get_context("fork")
    with ctx.Pool(2) as pool:
        assert pool.map(_double_in_child, [(pg_url, i) for i in range(6)]) == [
            i * 2 for i in range(6)
        ]
    assert f(1) == 2
    assert len(cachework.Store(pg_url).history(work="fork", limit=None)) == 6


def _double_in_child(arg):
    url, x = arg

    @cachework.work(name="fork", store=url)
    def f(x):
        return x * 2

    cachework.Store(url).history(work="fork")
    return f(x)

"""Every run records why its call ran (``cachework_runs.reason``), whatever the log level:
the history answers "why did this run?" after the fact, in SQL and in the command."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from click.testing import CliRunner

import cachework
from cachework import _store as store_mod
from cachework._cli import cli


def _reasons(url: str, work: str) -> list[str | None]:
    return [r.reason for r in reversed(cachework.Store(url).history(work, limit=None))]


def _owner_killed_mid_run(url: str, name: str, tmp_path) -> int:
    """A process that claims a call of work ``name`` and is SIGKILLed mid-run: its pid."""
    started = tmp_path / f"{name}.started"
    code = textwrap.dedent(
        f"""
        import pathlib, time, cachework

        @cachework.work(name={name!r}, store={url!r})
        def slow(x):
            pathlib.Path({str(started)!r}).write_text("1")
            time.sleep(600)

        slow(1)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        deadline = time.monotonic() + 120
        while not started.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    return proc.pid


@pytest.mark.parametrize("level", [logging.WARNING, logging.INFO], ids=["log off", "log on"])
def test_each_run_records_why_it_ran(url, caplog, level):
    """The same reasons whether the log asks for them (the claim tells) or not (the run's
    insert tells "forgotten" from "new" itself)."""
    caplog.set_level(level, logger="cachework")
    fail = [True]

    @cachework.work(name="reasons", store=url, ttl=1)
    def f(x):
        if x == "boom" and fail[0]:
            fail[0] = False
            raise ValueError("once")
        return x

    f("a")
    f("a")  # a hit: no run
    cachework.Store(url).forget("reasons", x="a")
    f("a")
    with pytest.raises(ValueError):
        f("boom")
    f("boom")
    time.sleep(1.1)
    f("a")
    assert _reasons(url, "reasons") == [
        "new",
        "forgotten",
        "new",
        "failed before",
        "expired",
    ]


def test_a_new_version_and_changed_code_are_recorded_apart(url, tmp_path):
    @cachework.work(name="versioned", store=url, version=1)
    def v1(day):
        return day

    @cachework.work(name="versioned", store=url, version=2)
    def v2(day):
        return day

    v1("d")
    v2("d")
    v2("e")
    assert _reasons(url, "versioned") == ["new", "new version", "new"]

    source = tmp_path / "coded.py"
    for n in (1, 2):
        source.write_text(
            textwrap.dedent(
                f"""
                import cachework

                @cachework.work(name="coded", store={url!r}, version="code")
                def coded(day):
                    return day * {n}

                coded("d")
                """
            )
        )
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        subprocess.run([sys.executable, str(source)], check=True, env=env, timeout=120)
    assert _reasons(url, "coded") == ["new", "code changed"]


def test_not_cached_and_a_takeover_are_recorded(url, tmp_path):
    @cachework.work(name="uncached", store=url, cache_calls=False)
    def g(x):
        return x

    g(1)
    g(1)
    assert _reasons(url, "uncached") == ["new", "not cached"]

    pid = _owner_killed_mid_run(url, "taken", tmp_path)

    @cachework.work(name="taken", store=url)
    def taken(x):
        return x

    assert taken(1) == 1
    first, second = cachework.Store(url).history("taken", limit=None)[::-1]
    assert first.reason == "new" and first.status == "interrupted"
    assert second.reason == f"taking over from {first.host}:{pid}, whose run {first.id} died"


def test_the_command_shows_the_reason(url):
    @cachework.work(name="shown", store=url)
    def f(x):
        return x

    f(1)
    cachework.Store(url).forget("shown", x=1)
    f(1)
    out = CliRunner().invoke(cli, ["--url", url, "--json", "history", "shown"])
    assert out.exit_code == 0, out.output
    assert [r["reason"] for r in json.loads(out.output)] == ["forgotten", "new"]
    table = CliRunner().invoke(cli, ["--url", url, "history", "shown"])
    assert "reason" in table.output and "forgotten" in table.output


def _one_run_at_0002(url: str) -> None:
    """A store where ``old(1)`` ran, taken down to 0002 (before the runs' reason), closed."""

    @cachework.work(name="old", store=url)
    def f(x):
        return x

    f(1)
    cachework.Store(url).downgrade("0002")
    for s in store_mod._registry.values():
        s.close()
    store_mod._registry.clear()


def test_a_store_opened_as_it_is_at_0002_lists_its_history_without_reasons(url):
    """A reading command does not upgrade: runs recorded before 0003 have no reason."""

    _one_run_at_0002(url)
    out = CliRunner().invoke(cli, ["--url", url, "--json", "history"])
    assert out.exit_code == 0, out.output
    assert [(r["work"], r["reason"]) for r in json.loads(out.output)] == [("old", None)]
    assert cachework.Store(url, create=False).revision() == "0002"  # not upgraded

    @cachework.work(name="old", store=url)
    def again(x):
        return x

    again(2)  # a work opens its store for writing: it upgrades; the old run keeps no reason
    assert cachework.Store(url).revision() == "0003"
    assert _reasons(url, "old") == [None, "new"]


def test_a_work_on_a_store_opened_as_it_is_at_0002_refuses_a_miss_before_running(url):
    """``Store(url, create=False)`` leaves a store at 0002 as it is (what reading commands
    need): its hits are served, and a miss, which would record a run with 0003's columns, is
    one StoreError saying to upgrade, before the function runs; nothing is written."""

    _one_run_at_0002(url)
    as_it_is = cachework.Store(url, create=False)
    ran = []

    @cachework.work(name="old", store=as_it_is)
    def g(x):
        ran.append(x)
        return x

    assert g(1) == 1 and ran == []  # a hit
    with pytest.raises(cachework.StoreError) as e:
        g(2)
    message = str(e.value)
    assert "0002" in message and "cachework db upgrade" in message, message
    assert ran == [] and g.status == "succeeded"  # the hit's status: this call never ran
    assert as_it_is.revision() == "0002"
    assert [(r.work, r.status) for r in as_it_is.history()] == [("old", "succeeded")]
    as_it_is.close()


def test_a_refresh_is_recorded_as_one(url):
    @cachework.work(name="refreshed", store=url)
    def f(x):
        return x

    f(1)
    f(1)  # a hit
    f.refresh(1)
    f.refresh(2)  # never ran: a refresh all the same
    assert _reasons(url, "refreshed") == ["new", "refresh", "refresh"]


def test_arguments_the_args_json_cannot_tell_apart_are_new_not_a_new_version(url, tmp_path):
    """A tuple and a list, a Path and a str, read alike in the args JSON but are other
    keys: a versioned work's miss on them is "new", never "new version"/"code changed"."""
    import pathlib

    @cachework.work(name="v", store=url, version=2)
    def v(a):
        return 1

    v((1, 2))
    v([1, 2])
    v(pathlib.Path("in.csv"))
    v("in.csv")
    assert _reasons(url, "v") == ["new"] * 4

    @cachework.work(name="c", store=url, version="code")
    def c(a):
        return 1

    c((1, 2))
    c([1, 2])
    assert _reasons(url, "c") == ["new", "new"]


def test_a_takeover_from_an_owner_with_a_long_host_name_is_recorded(url, tmp_path, monkeypatch):
    """The takeover's reason names the dead owner: as long as the owner column allows."""
    host = "h" * 240
    monkeypatch.setenv("CACHEWORK_HOST", host)
    pid = _owner_killed_mid_run(url, "long", tmp_path)

    @cachework.work(name="long", store=url)
    def taken(x):
        return x

    assert taken(1) == 1
    latest = cachework.Store(url).history("long", limit=1)[0]
    assert latest.reason.startswith(f"taking over from {host}:{pid}")

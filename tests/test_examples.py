"""Every example runs as is on the default store, and the scheduling recipes parse."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from conftest import run_python

import cachework

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(
    name: str, *args: str, cwd: Path, check: bool = True, url: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run an example as a user would, on ./cachework.db or the store ``url``."""
    env = {k: v for k, v in os.environ.items() if k != "CACHEWORK_URL"}
    if url is not None:
        env["CACHEWORK_URL"] = url
    return run_python(str(EXAMPLES / name), *args, cwd=cwd, env=env, check=check)


def test_daily_pipeline_second_run_skips(tmp_path):
    first = run("daily_pipeline.py", cwd=tmp_path).stdout
    second = run("daily_pipeline.py", cwd=tmp_path).stdout
    yesterday = (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)).isoformat()
    assert f"processing {yesterday}" in first and "training on" in first  # lag=1: yesterday
    assert first.count("processing") == 1  # nothing recorded before: nothing to catch up
    assert "processing" not in second and "training" not in second
    assert f"model=/models/{yesterday}.pt" in second
    assert (tmp_path / "cachework.db").exists()


def test_daily_pipeline_takes_its_day_from_the_period_and_catches_up(tmp_path):
    today = dt.datetime.now(dt.timezone.utc).date()
    days = [(today - dt.timedelta(days=n)).isoformat() for n in range(7, 0, -1)]  # 7 ago..1 ago
    first = run("daily_pipeline.py", days[2], cwd=tmp_path).stdout  # one past day, explicitly
    assert f"processing {days[2]} (00:00 to 00:00 UTC)" in first
    assert first.count("processing") == 1
    # The next start (yesterday) first catches up the days since, oldest first, once each.
    second = run("daily_pipeline.py", cwd=tmp_path).stdout
    assert re.findall(r"processing (\S+)", second) == days[3:]
    assert f"model=/models/{days[-1]}.pt" in second  # trained on yesterday's data
    third = run("daily_pipeline.py", cwd=tmp_path).stdout
    assert "processing" not in third and "training" not in third
    # The days before the first one recorded are filled by the command, from the repository.
    db = tmp_path / "cachework.db"
    stray = EXAMPLES.parent / "cachework.db"
    had_stray = stray.exists()
    backfill = subprocess.run(
        [sys.executable, "-m", "cachework", "--url", str(db), "backfill"]
        + ["examples.daily_pipeline:process", "--from", days[0]],
        cwd=EXAMPLES.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert backfill.returncode == 0, backfill.stderr
    assert stray.exists() == had_stray  # --url named the store: no other one was made
    assert [line for line in backfill.stdout.splitlines() if line.startswith("ran")] == [
        f"ran {days[0]}",
        f"ran {days[1]}",
    ]
    done = cachework.Store(db).calendar(["daily.process"], since=dt.date.fromisoformat(days[0]))
    assert [status for _, status in done[0].cells] == ["succeeded"] * 7 + [""]  # today: not due


def test_seed_props(tmp_path):
    out = run("seed_props.py", cwd=tmp_path).stdout
    cached, uncached = out.split("cache_calls=False")
    assert cached.count("kwargs: {'value': 1}") == 1 and cached.count("{'value': 10}") == 1
    assert uncached.count("kwargs: {'value': 1}") == 5 and uncached.count("{'value': 10}") == 1
    again = run("seed_props.py", cwd=tmp_path).stdout.split("cache_calls=False")[0]
    assert "I received" not in again  # durable: the second start hits


def test_resume_after_crash(tmp_path):
    first = run("resume_after_crash.py", cwd=tmp_path, check=False)
    assert first.returncode == 1 and "step 3 crashed" in first.stdout
    second = run("resume_after_crash.py", cwd=tmp_path).stdout
    assert "step 1" not in second and "step 2" not in second
    assert "step 3" in second and "total = 90" in second


def test_resume_after_crash_crashes_once_per_store_whatever_the_folder(tmp_path):
    """Once per store, as it says: started from another folder on the same store it
    resumes; a new store crashes once again."""
    for folder in ("a", "b", "c"):
        (tmp_path / folder).mkdir()
    store = f"sqlite:///{tmp_path / 'shared.db'}"
    first = run("resume_after_crash.py", cwd=tmp_path / "a", url=store, check=False)
    assert first.returncode == 1 and "step 3 crashed" in first.stdout
    second = run("resume_after_crash.py", cwd=tmp_path / "b", url=store).stdout
    assert "step 1" not in second and "total = 90" in second
    other = f"sqlite:///{tmp_path / 'other.db'}"
    third = run("resume_after_crash.py", cwd=tmp_path / "b", url=other, check=False)
    assert third.returncode == 1 and "step 3 crashed" in third.stdout
    assert not [p for p in (tmp_path / "a").iterdir()]  # nothing left in the folder it ran in


def test_event_loop_example(tmp_path):
    out = run("event_loop.py", "--iterations", "2000", cwd=tmp_path).stdout
    assert out.count("processing") == 1 and out.count("training on") == 1
    assert "2000 turns" in out
    out = run("event_loop.py", "--iterations", "10", cwd=tmp_path).stdout
    assert "processing" not in out  # same day, new process: hits


def test_a_long_loop_of_hits_writes_nothing_and_holds_no_memory(sqlite_url, tmp_path):
    class DataProcessor(cachework.Work):
        def run(self):
            self.data = "/data/today.parquet"

    class TrainModel(cachework.Work):
        def run(self, data):
            return data + ".model"

    dp = DataProcessor(name="loop.dp", store=sqlite_url, every="day")
    tm = TrainModel(name="loop.tm", store=sqlite_url)
    dp.run()
    tm.run(dp.data)
    watcher = sqlite3.connect(tmp_path / "store.db")
    version = watcher.execute("PRAGMA data_version").fetchall()
    runs = watcher.execute("SELECT count(*) FROM cachework_runs").fetchall()
    for _ in range(1000):  # warm every cache first
        dp.run()
        tm.run(dp.data)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(100_000):
        dp.run()
        tm.run(dp.data)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert grown < 64 * 1024, f"the loop holds {grown} more bytes"
    assert watcher.execute("PRAGMA data_version").fetchall() == version
    assert watcher.execute("SELECT count(*) FROM cachework_runs").fetchall() == runs


def _crontab() -> tuple[str, list[str]]:
    """The example crontab's one job line, and its commented commands (``#   cmd``)."""
    text = (EXAMPLES / "cron" / "crontab").read_text()
    jobs = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert len(jobs) == 1, jobs
    return jobs[0], [line[4:] for line in text.splitlines() if line.startswith("#   ")]


def test_crontab_line_parses_and_writes_where_a_user_can():
    job, _ = _crontab()
    fields = job.split(None, 5)
    field = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")
    assert all(field.match(f) for f in fields[:5]), fields[:5]
    command = fields[5]
    assert "daily_pipeline.py" in command
    assert "%" not in command  # cron reads % as a newline
    assert "PYTHONUNBUFFERED=1 " in command  # else the log is block-buffered, out of order
    log = re.search(r">> *(\S+)", command).group(1)
    assert log.startswith('"$HOME/') and "/var/log" not in command
    url = re.search(r'CACHEWORK_URL="sqlite:///([^"]+)"', command).group(1)
    assert url.startswith("$HOME/")  # $HOME is absolute: sqlite:////home/...


def test_crontab_line_runs_in_crons_bare_environment(tmp_path):
    """The job line and the history command beside it, run by /bin/sh with only what cron
    gives (HOME, PATH=/usr/bin:/bin), from the home folder: the pipeline runs, its log
    is in order, and the history command reads the store the ticks wrote."""
    job, commented = _crontab()
    home = tmp_path / "home"
    checkout = home / "pipeline"
    (checkout / "examples").mkdir(parents=True)
    shutil.copy(EXAMPLES / "daily_pipeline.py", checkout / "examples")
    venv_bin = checkout / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    python = venv_bin / "python"  # the checkout's venv: this interpreter with this tree
    root = EXAMPLES.parent
    python.write_text(f'#!/bin/sh\nPYTHONPATH={root} exec {sys.executable} "$@"\n')
    python.chmod(0o755)
    cron_env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "SHELL": "/bin/sh", "LOGNAME": "me"}

    def tick(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["/bin/sh", "-c", command],
            cwd=home,
            env=cron_env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    command = job.split(None, 5)[5]
    for _ in range(2):
        done = tick(command)
        assert done.returncode == 0, done.stderr
    log = (checkout / "pipeline.log").read_text()
    assert log.count("processing") == 1 and log.index("processing") < log.index("training")
    assert (checkout / "cachework.db").exists() and not (home / "cachework.db").exists()
    (history,) = [c for c in commented if "cachework history" in c]
    shown = tick(history)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count("succeeded") >= 2, shown.stdout


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)
def test_systemd_units_verify(tmp_path):
    for unit in ("pipeline.service", "pipeline.timer"):
        shutil.copy(EXAMPLES / "cron" / unit, tmp_path / unit)
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "pipeline.timer")],
        capture_output=True,
        text=True,
    )
    problems = [line for line in proc.stderr.splitlines() if "pipeline" in line]
    assert proc.returncode == 0 and not problems, proc.stderr


def test_event_loop_stops_cleanly_on_ctrl_c(tmp_path):
    import signal
    import time

    env = {k: v for k, v in os.environ.items() if k != "CACHEWORK_URL"}
    env["PYTHONFAULTHANDLER"] = "1"  # SIGABRT then prints where every thread stands
    p = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "event_loop.py"), "--sleep", "0.01"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell starts background jobs with SIGINT ignored, and Python then installs no
        # Ctrl-C handler: give the example the default disposition a terminal would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while not (tmp_path / "cachework.db").exists() or time.monotonic() < deadline - 58:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGABRT)
        out, err = p.communicate(timeout=30)
        pytest.fail(f"the loop did not stop on Ctrl-C; its threads:\n{err}\n{out}")
    assert p.returncode == 0, err
    assert "stopped" in out and "turns in" in out

"""The `cachework` command, through Click's runner and through the installed entry point."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import cachework
from cachework._cli import cli, main


def invoke(url, *args, input=None):
    result = CliRunner().invoke(cli, ["--url", url, *args], input=input)
    return result


def test_works_json(filled):
    r = invoke(filled, "works", "--json")
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.output)
    assert row["work"] == "ingest" and row["calls"] == 3
    assert (row["succeeded"], row["failed"], row["running"], row["runs"]) == (2, 1, 0, 3)
    assert row["last_run"] and row["mean_duration_s"] >= 0


def test_history_filters(filled):
    r = invoke(filled, "--json", "history", "ingest", "--status", "failed")
    (run,) = json.loads(r.output)
    assert run["error_type"] == "ValueError" and run["args"] == {"day": "bad", "n": 1}
    r = invoke(filled, "--json", "history", "--arg", "day=2022-05-26", "--arg", "n=3")
    assert [x["args"]["day"] for x in json.loads(r.output)] == ["2022-05-26"]
    r = invoke(filled, "--json", "history", "--arg", "n='\"3\"'")
    assert json.loads(r.output) == []
    r = invoke(filled, "--json", "history", "--since", "1d", "--limit", "2")
    assert len(json.loads(r.output)) == 2
    r = invoke(filled, "--json", "history", "--since", "2999-01-01")
    assert json.loads(r.output) == []


def test_history_aligned_plain_table_when_piped(filled):
    r = invoke(filled, "history")
    lines = r.output.splitlines()
    assert lines[0].split()[:3] == ["id", "work", "key"] and len(lines) == 4
    assert "\t" not in r.output and "│" not in r.output  # no TSV, no box drawing
    # Aligned: each column starts at the same place on every line.
    at = lines[0].index("status")
    assert {line[at:].split()[0] for line in lines[1:]} == {"failed", "succeeded"}


def test_show_by_arg_and_by_key(filled):
    r = invoke(filled, "--json", "show", "ingest", "--arg", "day=2022-05-25")
    assert r.exit_code == 0, r.output
    record = json.loads(r.output)
    assert record["call"]["status"] == "succeeded" and record["result_type"] == "dict"
    assert record["call"]["result_size"] > 0 and len(record["runs"]) == 1
    key = record["call"]["key"]
    r = invoke(filled, "show", "ingest", key)
    assert "result_type: dict" in r.output and key in r.output
    r = invoke(filled, "show", "ingest", "--arg", "day=bad")
    assert "ValueError: bad day" in r.output and "Traceback" in r.output


def test_show_unknown_work_and_key_exit_1(filled):
    assert invoke(filled, "show", "nope", "--arg", "day=x").exit_code == 1
    r = invoke(filled, "show", "ingest", "0" * 32)
    assert r.exit_code == 1 and "no call of ingest matches key" in r.output


def test_forget_dry_run_confirm_and_yes(filled):
    r = invoke(filled, "forget", "ingest", "--all", "--dry-run")
    assert r.output.count("would forget") == 3
    assert len(cachework.Store(filled).calls("ingest")) == 3
    r = invoke(filled, "forget", "ingest", "--all")  # not a terminal: refuses without --yes
    assert r.exit_code == 1 and "--yes" in r.output
    r = invoke(filled, "forget", "ingest", "--status", "failed")
    assert "forgot 1 call" in r.output
    r = invoke(filled, "--json", "forget", "ingest", "--arg", "day=2022-05-25")
    assert json.loads(r.output)["forgotten"] == 1
    r = invoke(filled, "forget", "ingest", "--all", "--yes")
    assert "forgot 1 call" in r.output
    assert cachework.Store(filled).calls("ingest") == []


def test_forgotten_entry_runs_again(filled):
    invoke(filled, "forget", "ingest", "--arg", "day=2022-05-25")
    ran = []

    @cachework.work(name="ingest", store=filled)
    def ingest(day: str, n: int = 1) -> dict:
        ran.append(day)
        return {"day": day}

    ingest("2022-05-25")
    ingest("2022-05-26", n=3)
    assert ran == ["2022-05-25"]


def test_prune(filled):
    r = invoke(filled, "--json", "prune", "--older-than", "0s", "--history")
    assert json.loads(r.output)["calls"] == 3 and json.loads(r.output)["runs"] == 3
    assert invoke(filled, "prune", "--older-than", "30d", "--vacuum").exit_code == 0


def test_sql_reads_and_refuses_writes(filled):
    r = invoke(filled, "--json", "sql", "SELECT work, status FROM cachework_calls ORDER BY status")
    assert [row["status"] for row in json.loads(r.output)] == ["failed", "succeeded", "succeeded"]
    r = invoke(filled, "sql", "DELETE FROM cachework_runs")
    assert r.exit_code == 1
    assert len(cachework.Store(filled).history(limit=None)) == 3


def test_stats_and_db(filled):
    r = invoke(filled, "--json", "stats")
    data = json.loads(r.output)
    assert data["works"] == 1 and data["calls"] == 3 and data["runs_by_status"]["failed"] == 1
    assert data["revision"] == "0003" and data["size_bytes"] > 0
    assert invoke(filled, "db", "current").output.strip() == "0003"


def test_bad_usage_exits_2(sqlite_url):
    assert CliRunner().invoke(cli, ["--url", sqlite_url, "history", "--since", "2x"]).exit_code == 2
    assert CliRunner().invoke(cli, ["--url", sqlite_url, "forget", "w"]).exit_code == 2


def test_missing_store_is_an_error_and_is_not_created(tmp_path, capsys):
    path = tmp_path / "absent.db"
    for args in (["works"], ["history"], ["stats"], ["sql", "SELECT 1"], ["db", "current"]):
        with pytest.raises(SystemExit) as e:
            main(["--url", str(path), *args])
        assert e.value.code == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "does not exist" in err
    assert not path.exists()


def test_unreachable_server_is_one_line(capsys):
    for url in ("postgresql+psycopg://nobody@127.0.0.1:1/none", "mysql://root@127.0.0.1/test"):
        with pytest.raises(SystemExit) as e:
            main(["--url", url, "works"])
        assert e.value.code == 1
        err = capsys.readouterr().err
        assert err.startswith("cachework: error:") and err.count("\n") == 1


def test_db_upgrade_creates_and_downgrade_drops(tmp_path):
    path = tmp_path / "fresh.db"
    r = CliRunner().invoke(cli, ["--url", str(path), "db", "upgrade"])
    assert r.exit_code == 0 and "0003" in r.output
    r = CliRunner().invoke(cli, ["--url", str(path), "db", "downgrade", "base", "--yes"])
    assert "none" in r.output


def test_every_command_through_the_installed_entry_point(filled, tmp_path):
    exe = shutil.which("cachework", path=str(Path(sys.executable).parent))
    assert exe, "the cachework script is installed with the package"
    env_url = ["--url", filled]
    for args in (
        ["--version"],
        ["works"],
        ["history", "ingest"],
        ["show", "ingest", "--arg", "day=2022-05-25"],
        ["forget", "ingest", "--arg", "day=2022-05-25", "--dry-run"],
        ["prune", "--older-than", "30d"],
        ["sql", "SELECT count(*) FROM cachework_runs"],
        ["stats"],
        ["db", "current"],
        ["db", "upgrade"],
    ):
        proc = subprocess.run([exe, *env_url, *args], capture_output=True, text=True)
        assert proc.returncode == 0, (args, proc.stderr)
    proc = subprocess.run(
        [sys.executable, "-m", "cachework", "--url", filled, "--json", "works"],
        capture_output=True,
        text=True,
    )
    assert json.loads(proc.stdout)[0]["work"] == "ingest"
    scratch = str(tmp_path / "scratch.db")
    for args in (["db", "upgrade"], ["db", "downgrade", "base", "--yes"]):
        proc = subprocess.run([exe, "--url", scratch, *args], capture_output=True, text=True)
        assert proc.returncode == 0, (args, proc.stderr)
    proc = subprocess.run(
        [exe, "--url", filled, "show", "nope", "--arg", "a=1"], capture_output=True, text=True
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr


def test_forget_asks_on_a_terminal(filled, monkeypatch):
    monkeypatch.setattr("cachework._cli._interactive", lambda: True)
    r = invoke(filled, "forget", "ingest", "--all", input="n\n")
    assert r.exit_code == 1 and len(cachework.Store(filled).calls("ingest")) == 3
    r = invoke(filled, "forget", "ingest", "--all", input="y\n")
    assert r.exit_code == 0 and "forgot 3 calls" in r.output
    assert cachework.Store(filled).calls("ingest") == []


def test_prune_sweeps_runs_whose_owner_died(url, tmp_path):
    import os
    import signal
    import time

    out = tmp_path / "started"
    workers = str(Path(__file__).with_name("workers.py"))
    p = subprocess.Popen([sys.executable, workers, "hold", url, str(out), "k", "60"])
    deadline = time.monotonic() + 30
    while not out.exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    r = invoke(url, "--json", "prune", "--older-than", "30d")
    assert json.loads(r.output)["interrupted"] == 1
    runs = cachework.Store(url).history(work="hold")
    assert [r.status for r in runs] == ["interrupted"] and "swept by prune" in runs[0].error
    assert cachework.Store(url).calls("hold") == []


def test_listings_are_rich_tables_on_a_terminal(filled, monkeypatch):
    monkeypatch.setattr("cachework._output.terminal", lambda: True)
    r = invoke(filled, "works")
    assert r.exit_code == 0
    assert "┃" in r.output or "│" in r.output  # drawn by rich
    assert "ingest" in r.output and "\t" not in r.output

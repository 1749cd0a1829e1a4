"""What the README and docs say holds: install hints, the cron example, the crash example,
the command's answers to a typo and to a missing store (issue 18)."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import run_script

ROOT = Path(__file__).resolve().parents[1]


# -- PostgreSQL without psycopg: the error says how to install it -------------------------------
def test_a_server_store_without_psycopg_says_how_to_install_it(tmp_path):
    proc = run_script(
        """
        import sys
        sys.modules["psycopg"] = None  # import psycopg now raises ImportError
        import cachework
        try:
            cachework.Store("postgresql+psycopg://u@127.0.0.1:1/db").open()
        except cachework.StoreError as e:
            print(e)
        """,
        env={"PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
    )
    message = proc.stdout.strip()
    assert "needs psycopg 3" in message, message
    assert "pip install -e '.[postgres]'" in message
    assert "\n" not in message


def test_the_readme_installs_psycopg_from_a_checkout():
    readme = (ROOT / "README.md").read_text()
    assert "pip install 'cachework[postgres]'" not in readme  # not on any index
    assert re.search(r"pip install -e '\.\[postgres\]'", readme)


# -- NaN keys: what the README says -----------------------------------------------------------
def test_nan_keys_are_what_the_readme_says(tmp_path):
    import math

    import numpy as np

    import cachework

    w = cachework.work(name="nan", store=str(tmp_path / "k.db"))(lambda x: x)
    nan, negative = float("nan"), -float("nan")
    assert math.copysign(1, negative) == -1  # a function could tell them apart ...
    assert w.key(nan) == w.key(negative) == w.key(math.inf - math.inf)  # ... one key
    # numpy keeps the bits: the sign of a NaN makes another key.
    assert w.key(np.float64("nan")) != w.key(np.float64(-np.nan))
    assert w.key(np.float32("nan")) != w.key(np.float32(-np.nan))
    assert w.key(np.array([np.nan])) != w.key(np.array([-np.nan]))
    assert w.key(np.float64("nan")) == w.key(np.float64(np.nan))
    assert w.key(np.float64("nan")) != w.key(nan)  # a numpy scalar is not a float
    readme = (ROOT / "README.md").read_text()
    assert "all NaNs are one" not in readme
    assert 'np.float64("nan")` and `np.float64(-np.nan)` are two keys' in readme


# -- the command's answers: a dangerous downgrade, a typo, a missing store ----------------------
def _cli(*args: str, input: str | None = None):
    from click.testing import CliRunner

    from cachework._cli import cli

    return CliRunner().invoke(cli, list(args), input=input)


def _revision(url: str) -> str | None:
    import cachework

    store = cachework.Store(url)
    try:
        return store.revision()
    finally:
        store.close()


def test_downgrade_to_base_asks_before_dropping_every_table(filled, monkeypatch):
    import cachework

    before = _revision(filled)
    assert before is not None
    r = _cli("--url", filled, "db", "downgrade", "base")  # no terminal: refuses, drops nothing
    assert r.exit_code == 1 and "--yes" in r.output and _revision(filled) == before
    monkeypatch.setattr("cachework._cli._interactive", lambda: True)
    r = _cli("--url", filled, "db", "downgrade", "base", input="n\n")
    assert r.exit_code == 1 and "Drop every cachework table" in r.output
    assert _revision(filled) == before
    assert len(cachework.Store(filled).calls("ingest")) == 3  # every call still there
    r = _cli("--url", filled, "db", "downgrade", "base", input="y\n")
    assert r.exit_code == 0 and _revision(filled) is None


def test_downgrade_base_with_yes_asks_nothing(filled):
    r = _cli("--url", filled, "db", "downgrade", "base", "--yes")
    assert r.exit_code == 0 and "at revision none" in r.output


def test_forget_of_a_work_never_seen_is_an_error_not_nothing(filled):
    import cachework

    r = _cli("--url", filled, "forget", "ingset", "--all", "--yes")  # a typo of ingest
    assert r.exit_code != 0
    assert isinstance(r.exception, cachework.NoSuchWork) or "no work named" in r.output
    proc = run_script(
        f"""
        from cachework._cli import main
        main(["--url", {filled!r}, "forget", "ingset", "--all", "--yes"])
        """,
        env={"PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"cachework: error: no work named 'ingset' in {cachework.Store(filled).safe_url()}: "
        "nothing to forget"
    )
    # A known work with nothing matching is still "nothing matches", exit 0.
    r = _cli("--url", filled, "forget", "ingest", "--arg", "day=1999-01-01", "--yes")
    assert r.exit_code == 0 and "nothing matches" in r.output


def test_a_missing_store_names_its_absolute_path_and_the_next_step(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = _cli("--url", "sqlite:///cachework.db", "works")
    assert r.exit_code != 0
    message = str(r.exception) if r.exception else r.output
    assert str(tmp_path / "cachework.db") in message
    assert "cachework db upgrade" in message
    assert not (tmp_path / "cachework.db").exists()
    r = _cli("--url", "sqlite:///cachework.db", "db", "downgrade", "base", "--yes")
    assert str(tmp_path / "cachework.db") in str(r.exception)
    assert not (tmp_path / "cachework.db").exists()  # a downgrade creates nothing either


def test_a_result_that_no_longer_loads_is_logged_once_as_cachework(tmp_path):
    """The examples log as ``%(name)s: %(message)s``: the message must not name cachework
    again (it read ``cachework: cachework: the stored result ...``)."""
    (tmp_path / "things.py").write_text("class Thing:\n    pass\n")
    code = f"""
    import logging, sys
    sys.path.insert(0, {str(tmp_path)!r})
    logging.basicConfig(format="%(name)s: %(message)s")
    import cachework, things
    @cachework.work(name="things", store={str(tmp_path / "s.db")!r})
    def make():
        return things.Thing() if hasattr(things, "Thing") else things.Other()
    make()
    """
    run_script(code, env={"PYTHONPATH": str(ROOT)})
    (tmp_path / "things.py").write_text("class Other:\n    pass\n")
    proc = run_script(code, env={"PYTHONPATH": str(ROOT)})
    logged = [line for line in proc.stderr.splitlines() if "no longer loads" in line]
    assert logged and all("cachework: cachework:" not in line for line in logged), proc.stderr
    assert any(line.startswith("cachework: the stored result of things") for line in logged)

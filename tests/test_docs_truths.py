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

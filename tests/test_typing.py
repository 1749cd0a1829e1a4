"""@work keeps the function's static type: mypy sees the real parameters and return type."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def test_mypy_sees_the_decorated_signature(tmp_path):
    pytest.importorskip("mypy")
    source = tmp_path / "typed.py"
    source.write_text(
        textwrap.dedent("""
        import cachework

        @cachework.work(name="ingest")
        def ingest(day: str, n: int = 1) -> int:
            return n

        reveal_type(ingest("2022-05-25"))
        ingest(3)
    """)
    )
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", str(source)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert (
        'Revealed type is "int"' in proc.stdout or 'Revealed type is "builtins.int"' in proc.stdout
    ), proc.stdout
    assert 'incompatible type "int"; expected "str"' in proc.stdout, proc.stdout


def test_the_package_itself_type_checks():
    """Every public function carries type hints; mypy over the package keeps them honest."""
    pytest.importorskip("mypy")
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "cachework"],
        capture_output=True,
        text=True,
        cwd=root,
    )
    assert proc.returncode == 0, proc.stdout

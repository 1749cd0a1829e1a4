"""cachework where POSIX pieces are missing (Windows, macOS): simulated in a fresh process."""

from __future__ import annotations

import textwrap

from conftest import run_script

#: What Windows lacks, taken away before cachework is imported: fork hooks, os.uname, fcntl,
#: and /proc (which macOS lacks too).
SIMULATE = """
    import os, sys
    del os.register_at_fork, os.fork  # random and others hook forks only where os.fork is
    del os.uname
    sys.modules["fcntl"] = None  # import fcntl now raises ImportError
    import cachework
    from cachework import _owner
    _owner._PROC = os.path.join(os.getcwd(), "no-proc")
    assert not os.path.exists(_owner._PROC)
"""


def _simulated(tmp_path, store, work, run, then, before="", check=True):
    """Run, in a fresh process without the POSIX pieces, ``before``, then a work ``f`` named
    ``work`` in ``store`` whose run is the one line ``run``, then ``then`` (unindented)."""
    code = f"""
{before}
@cachework.work(name={work!r}, store={store!r}, wait_timeout=20)
def f(x):
    {run}

{then}
"""
    return run_script(SIMULATE + textwrap.indent(code, "    "), cwd=tmp_path, check=check)


def test_without_fork_hooks_uname_fcntl_or_proc_calls_miss_hit_and_take_over(tmp_path):
    store = str(tmp_path / "sub" / "store.db")
    (tmp_path / "sub").mkdir()
    miss_and_hit = f"""
assert f(21) == 42 and f(21) == 42 and ran == [21]
assert _owner.host() == platform.node()
assert _owner.process_start(os.getpid()) is None
(run,) = cachework.Store({store!r}).history(work="w")
assert run.host == platform.node() and run.status == "succeeded"
print("ok")
"""
    out = _simulated(
        tmp_path,
        store,
        "w",
        "ran.append(x); return x * 2",
        miss_and_hit,
        before="import platform\nran = []",
    )
    assert out.stdout.split() == ["ok"]
    # Another process hits what the first stored.
    out = _simulated(tmp_path, store, "w", 'raise AssertionError("must hit")', "print(f(21))")
    assert out.stdout.split() == ["42"]

    # A run whose process dies: with only the pid to go by, the next caller on this host
    # still sees it dead and takes over at once (not after the 60 s lease).
    assert _simulated(tmp_path, store, "d", "os._exit(3)", "f(1)", check=False).returncode == 3
    dead = """
import subprocess
dead = subprocess.Popen([sys.executable, "-c", "pass"])
dead.wait()
assert not _owner.is_alive(dead.pid, None) and _owner.is_alive(os.getpid(), "0")
"""
    then = f'print(f(1), [r.status for r in cachework.Store({store!r}).history(work="d")])'
    out = _simulated(tmp_path, store, "d", 'return "second"', then, before=dead)
    assert out.stdout.split() == ["second", "['succeeded',", "'interrupted']"]

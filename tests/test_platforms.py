"""cachework where POSIX pieces are missing (Windows, macOS): simulated in a fresh process."""

from __future__ import annotations

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


def test_without_fork_hooks_uname_fcntl_or_proc_calls_miss_hit_and_take_over(tmp_path):
    store = str(tmp_path / "sub" / "store.db")
    (tmp_path / "sub").mkdir()
    miss_and_hit = (
        SIMULATE
        + f"""
    import platform
    ran = []

    @cachework.work(name="w", store={store!r})
    def f(x):
        ran.append(x)
        return x * 2

    assert f(21) == 42 and f(21) == 42 and ran == [21]
    assert _owner.host() == platform.node()
    assert _owner.process_start(os.getpid()) is None
    (run,) = cachework.Store({store!r}).history(work="w")
    assert run.host == platform.node() and run.status == "succeeded"
    print("ok")
    """
    )
    assert run_script(miss_and_hit, cwd=tmp_path).stdout.split() == ["ok"]

    hit_elsewhere = (
        SIMULATE
        + f"""
    @cachework.work(name="w", store={store!r})
    def f(x):
        raise AssertionError("must hit")

    print(f(21))
    """
    )
    assert run_script(hit_elsewhere, cwd=tmp_path).stdout.split() == ["42"]

    # A run whose process dies: with only the pid to go by, the next caller on this host
    # still sees it dead and takes over at once (not after the 60 s lease).
    dies = (
        SIMULATE
        + f"""
    @cachework.work(name="d", store={store!r})
    def f(x):
        os._exit(3)

    f(1)
    """
    )
    assert run_script(dies, cwd=tmp_path, check=False).returncode == 3
    takes_over = (
        SIMULATE
        + f"""
    import subprocess
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert not _owner.is_alive(dead.pid, None) and _owner.is_alive(os.getpid(), "0")

    @cachework.work(name="d", store={store!r}, wait_timeout=20)
    def f(x):
        return "second"

    print(f(1), [r.status for r in cachework.Store({store!r}).history(work="d")])
    """
    )
    out = run_script(takes_over, cwd=tmp_path).stdout.split()
    assert out == ["second", "['succeeded',", "'interrupted']"]

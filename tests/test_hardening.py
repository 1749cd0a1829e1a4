"""Bad input and damaged stores: a clear error or correct behaviour, never lost data."""

from __future__ import annotations

import contextlib
import enum
import io
import logging
import math
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import run_script
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cachework
from cachework import UnhashableArgument, key_for
from cachework import _store as store_mod

WORKERS = str(Path(__file__).with_name("workers.py"))
FUZZ_EXAMPLES = 1500


# -- arguments ------------------------------------------------------------------------------
class Plain:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self, a, b):
        self.a, self.b = a, b


class Liar:
    """Equal to everything, hashed at random: keys must not care."""

    def __init__(self, v):
        self.v = v

    def __eq__(self, other):
        return True

    def __hash__(self):
        return random.randint(0, 10**9)


class Raiser:
    def __eq__(self, other):
        raise RuntimeError("no comparing me")

    __hash__ = None


class BadState:
    def __getstate__(self):
        raise RuntimeError("no state for you")


class BadKey:
    def __cachework_key__(self):
        raise ValueError("hook failed")


class Mood(enum.Enum):
    OK = 1


class MyStr(str):
    pass


class MyInt(int):
    pass


class MyDict(dict):
    pass


def _unencodable():
    return st.sampled_from(["lock", "gen", "file", "bytesio", "thread"]).map(
        lambda kind: {
            "lock": threading.Lock,
            "gen": lambda: (i for i in range(2)),
            "file": lambda: io.StringIO("x"),
            "bytesio": io.BytesIO,
            "thread": threading.Thread,
        }[kind]()
    )


leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**70)
    | st.floats()
    | st.complex_numbers()
    | st.text()
    | st.binary()
    | st.decimals()
    | st.fractions()
    | st.dates()
    | st.datetimes()
    | st.timedeltas()
    | st.uuids()
    | st.text(max_size=5).map(MyStr)
    | st.integers().map(MyInt)
    | st.just(Mood.OK)
    | st.builds(Liar, st.integers())
    | st.builds(Raiser)
    | st.builds(BadState)
    | st.builds(BadKey)
    | st.builds(Slotted, st.integers(), st.text(max_size=3))
    | st.lists(st.floats(), max_size=5).map(np.array)
    | st.integers(min_value=-(2**63), max_value=2**63 - 1).map(np.int64)
    | _unencodable()
)
hashable_leaves = st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.floats()
mixed = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(hashable_leaves, inner, max_size=4)
        | st.dictionaries(hashable_leaves, inner, max_size=3).map(MyDict)
        | st.frozensets(hashable_leaves, max_size=4)
        | st.builds(lambda a, b: Plain(a=a, b=b), inner, inner)
    ),
    max_leaves=25,
)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(mixed)
def test_fuzz_every_input_gives_a_key_or_unhashable_argument(value):
    try:
        key = key_for({"x": value})
    except UnhashableArgument as e:
        assert str(e).startswith("argument 'x'")
        return
    assert len(key) == 32
    assert key_for({"x": value}) == key  # and the same key twice


def test_liars_do_not_change_keys():
    assert key_for({"x": [Liar(1)]}) == key_for({"x": [Liar(1)]})
    assert key_for({"x": [Liar(1)]}) != key_for({"x": [Liar(2)]})
    assert key_for({"x": Raiser()}) == key_for({"x": Raiser()})


def test_hooks_that_raise_are_named():
    with pytest.raises(
        UnhashableArgument, match=r"argument 'x' at \[1\]: BadKey.__cachework_key__\(\) raised"
    ):
        key_for({"x": [0, BadKey()]})
    with pytest.raises(UnhashableArgument, match="BadState.__getstate__"):
        key_for({"x": BadState()})


def test_minus_zero_and_nan_choices():
    assert key_for({"x": -0.0}) != key_for({"x": 0.0})  # documented: IEEE values, kept apart
    assert key_for({"x": math.nan}) == key_for({"x": float("-nan")})


def test_deep_nesting_is_not_a_recursion_error():
    deep = current = {}
    for _ in range(10_000):
        current["d"] = {}
        current = current["d"]
    with pytest.raises(UnhashableArgument, match="nesting deeper than"):
        key_for({"cfg": deep})


# -- stores ---------------------------------------------------------------------------------
def _filled_store(path: Path) -> None:
    @cachework.work(name="keep", store=str(path))
    def f(x):
        return x * 2

    for i in range(20):
        f(i)
    cachework.Store(path).close()
    store_mod._registry.clear()


def test_truncated_file_is_a_store_error_and_untouched(tmp_path):
    path = tmp_path / "t.db"
    _filled_store(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    cut = path.read_bytes()
    code = f"""
    import cachework
    @cachework.work(name="keep", store={str(path)!r})
    def f(x):
        return x * 2
    try:
        f(1)
    except cachework.StoreError as e:
        print("StoreError", e)
    """
    out = run_script(code).stdout
    assert out.startswith("StoreError") and out.count("\n") == 1
    assert path.read_bytes() == cut


@contextlib.contextmanager
def read_only(folder: Path):
    """``folder`` as a read-only file system (a bind mount as root, else permissions)."""
    view = folder.parent / (folder.name + "-ro")
    view.mkdir()
    mounted = False
    if os.geteuid() == 0:
        first = subprocess.run(["mount", "--bind", str(folder), str(view)], capture_output=True)
        if first.returncode == 0:
            mounted = (
                subprocess.run(
                    ["mount", "-o", "remount,bind,ro", str(view)], capture_output=True
                ).returncode
                == 0
            )
            if not mounted:
                subprocess.run(["umount", str(view)])
        if not mounted:
            pytest.skip("running as root without a way to make a read-only file system")
    else:
        shutil.rmtree(view)
        shutil.copytree(folder, view)
        for p in view.iterdir():
            p.chmod(0o444)
        view.chmod(0o555)
    try:
        yield view
    finally:
        if mounted:
            subprocess.run(["umount", str(view)])
        else:
            view.chmod(0o755)


def test_read_only_store_serves_hits_and_refuses_misses_before_running(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    _filled_store(folder / "s.db")
    with read_only(folder) as view:
        code = f"""
        import cachework
        ran = []
        @cachework.work(name="keep", store={str(view / "s.db")!r})
        def f(x):
            ran.append(x)
            return x * 2
        assert f(3) == 6 and f(19) == 38
        try:
            f(100)
        except cachework.StoreError as e:
            print("StoreError", e)
        print("ran", ran)
        """
        out = run_script(code).stdout.splitlines()
        assert out[0].startswith("StoreError") and "read-only" in out[0]
        assert out[1] == "ran []"


def _writer(path: Path, value: str, *, stay: bool) -> subprocess.Popen[str] | None:
    """Another process that forgets ``keep(1)`` and, unless ``value`` is empty, runs it again
    returning ``value``; with ``stay`` it keeps its connection open (its writes then sit in
    the -wal, the file unchanged) until its stdin gets a line, else it exits."""
    code = textwrap.dedent(f"""
        import sys, cachework
        @cachework.work(name="keep", store={str(path)!r})
        def f(x):
            return {value!r}
        f.forget(1)
        if {value!r}:
            f(1)
        print("written", flush=True)
        if {stay!r}:
            sys.stdin.readline()
        """)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == "written\n"
    if stay:
        return proc
    assert proc.wait(timeout=60) == 0
    return None


def test_a_read_only_reader_sees_every_write_of_a_writer_of_the_same_file(tmp_path):
    """A process that may not write a store (a read-only mount of its folder, with no -shm:
    an immutable connection) keeps hitting while another process, which may write it,
    replaces and forgets the call: each hit serves the latest value or refuses the miss,
    never a value forgotten or replaced, whether the writer is still open or has gone."""
    if os.geteuid() != 0:
        pytest.skip("needs the store's own file seen read-only: a bind mount, as root")
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "s.db"
    _writer(path, "v1", stay=False)
    assert sorted(os.listdir(folder)) == ["s.db"]  # closed: no -shm, no -wal
    with read_only(folder) as view:
        reader = subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(f"""
                import sys, cachework
                @cachework.work(name="keep", store={str(view / "s.db")!r})
                def f(x):
                    return "ran in the reader"
                for _ in sys.stdin:
                    try:
                        print(repr(f(1)), flush=True)
                    except cachework.StoreError as e:
                        print("StoreError", e, flush=True)
                """),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert reader.stdin is not None and reader.stdout is not None
        staying: list[subprocess.Popen[str]] = []

        def hit() -> str:
            reader.stdin.write("\n")
            reader.stdin.flush()
            return reader.stdout.readline().rstrip("\n")

        try:
            assert hit() == "'v1'"
            _writer(path, "v2", stay=False)  # a whole writer's session between two hits
            assert hit() == "'v2'"
            staying.append(_writer(path, "v3", stay=True))  # its writes only in the -wal
            assert hit() == "'v3'"
            assert hit() == "'v3'"
            staying.append(_writer(path, "", stay=True))  # forgotten
            miss = hit()
            assert miss.startswith("StoreError") and "read-only" in miss, miss
            for proc in staying:
                proc.communicate("\n", timeout=60)
            staying.clear()
            miss = hit()
            assert miss.startswith("StoreError") and "read-only" in miss, miss
            _writer(path, "v4", stay=False)
            assert hit() == "'v4'"
        finally:
            for proc in [*staying, reader]:
                proc.kill()
                proc.communicate()


def test_a_wal_left_without_its_shm_on_a_read_only_store_is_refused(tmp_path):
    """A -wal left without its -shm (copied without it) on a read-only folder: SQLite can
    read its writes only with the -shm, so the store refuses clearly instead of serving the
    file without them (the call forgotten there would still be a hit)."""
    folder = tmp_path / "data"
    folder.mkdir()
    _filled_store(tmp_path / "s.db")
    writer = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every call in the file itself
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("DELETE FROM cachework_calls")  # forgotten in the -wal only
    shutil.copy(tmp_path / "s.db", folder / "s.db")
    shutil.copy(tmp_path / "s.db-wal", folder / "s.db-wal")
    writer.close()
    with read_only(folder) as view:
        code = f"""
        import cachework
        @cachework.work(name="keep", store={str(view / "s.db")!r})
        def f(x):
            return "ran"
        try:
            print(repr(f(3)))
        except cachework.StoreError as e:
            print("StoreError", e)
        """
        out = run_script(code).stdout
        assert out.startswith("StoreError") and "s.db-wal" in out and "-shm" in out, out
        assert out.count("\n") == 1


def test_full_disk_gives_a_clear_error_and_the_store_survives(tmp_path):
    path = tmp_path / "full.db"
    _filled_store(path)
    limit = path.stat().st_size + 64 * 1024
    code = f"""
    import resource, signal, cachework
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
    @cachework.work(name="big", store={str(path)!r})
    def big(n):
        return b"x" * n
    try:
        big(4_000_000)
        print("stored")
    except cachework.StoreError as e:
        print("StoreError", e)
    """
    out = run_script(code).stdout
    assert out.startswith("StoreError") and out.count("\n") == 1, out
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()

    @cachework.work(name="big", store=str(path))
    def big(n):
        return b"x" * n

    assert big(4_000_000) == b"x" * 4_000_000  # with space again: works (takes the claim over)

    @cachework.work(name="keep", store=str(path))
    def keep(x):
        raise AssertionError("the old entries must still hit")

    assert [keep(i) for i in range(20)] == [i * 2 for i in range(20)]


def test_older_key_scheme_is_detected_and_rerun(sqlite_url, caplog):
    ran = []

    @cachework.work(name="schemes", store=sqlite_url)
    def f(x):
        ran.append(x)
        return x

    f(1)
    conn = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    conn.execute("UPDATE cachework_calls SET key_scheme = 0")
    conn.commit()
    conn.close()
    store_mod._registry.clear()

    @cachework.work(name="schemes", store=sqlite_url)
    def g(x):
        ran.append(x)
        return x

    with caplog.at_level(logging.WARNING, logger="cachework"):
        g(1)  # same key, but written by scheme 0: not served
        g(2)
    assert ran == [1, 1, 2]
    assert "another key scheme" in caplog.text


# -- faults ---------------------------------------------------------------------------------
KILL_POINTS = 20


def test_kill_nine_at_random_points_of_two_bursts(sqlite_url, tmp_path):
    rng = random.Random(1234)
    path = sqlite_url.removeprefix("sqlite:///")
    for point in range(KILL_POINTS):
        outs = [tmp_path / f"r{point}-{i}.txt" for i in range(2)]
        procs = [
            subprocess.Popen(
                [sys.executable, WORKERS, "burst", sqlite_url, str(o), "500"],
                stderr=subprocess.DEVNULL,
            )
            for o in outs
        ]
        time.sleep(0.3 + rng.random() * 0.6)  # imports take ~0.2 s; then somewhere in the burst
        victim = procs[point % 2]
        os.kill(victim.pid, signal.SIGKILL)
        for p in procs:
            p.wait(120)
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        done = {
            int(a)
            for (a,) in conn.execute(
                "SELECT json_extract(args, '$.i') FROM cachework_calls "
                "WHERE work = 'burst' AND status = 'succeeded'"
            )
        }
        conn.close()
        for o in outs:
            returned = {int(x) for x in o.read_text().split()} if o.exists() else set()
            assert returned <= done
    # The next start cleans up what the kills left: every call completes, none is stuck.
    final = subprocess.run(
        [sys.executable, WORKERS, "burst", sqlite_url, str(tmp_path / "f.txt"), "500"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert final.returncode == 0, final.stderr
    store = cachework.Store(sqlite_url)
    assert {c.status for c in store.calls("burst")} == {"succeeded"}
    assert len(store.calls("burst")) == 500


WRITE_POINTS = ["claim", "finish", "release", "beat"]


@pytest.mark.parametrize("point", WRITE_POINTS)
def test_a_failing_write_leaves_nothing_running_past_the_lease(point, sqlite_url, monkeypatch):
    lease = 1.0
    original = getattr(store_mod.Store, point)
    failed = []

    def failing(self, *args, **kwargs):
        if not failed:
            failed.append(point)
            raise RuntimeError(f"injected failure in {point}")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(store_mod.Store, point, failing)

    @cachework.work(name=f"fault.{point}", store=sqlite_url, lease=lease)
    def f(x):
        if point == "release":
            raise KeyboardInterrupt  # the one path that releases
        if point == "beat":
            time.sleep(lease / 4 * 2.5)  # long enough for the heartbeat to fire
        return x

    with contextlib.suppress(RuntimeError, KeyboardInterrupt):
        f(1)
    assert failed == [point]
    time.sleep(lease * 1.2)
    # Another process on this host must find no live owner now.
    out = run_script(f"""
        import cachework
        @cachework.work(name="fault.{point}", store={sqlite_url!r}, on_running="raise")
        def f(x):
            return x
        print(f(1))
    """).stdout
    assert out.strip() == "1"
    store = cachework.Store(sqlite_url)
    assert "running" not in {c.status for c in store.calls(f"fault.{point}")}

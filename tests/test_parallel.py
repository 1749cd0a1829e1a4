"""parallel=True: run returns a Future, the call runs in the background with the same semantics."""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time

import pytest

import cachework


class Slow(cachework.Work):
    def run(self, x: int, fail: bool = False) -> int:
        time.sleep(0.3)
        if fail:
            raise ValueError(f"failed on {x}")
        self.last = x
        return x * 2


def test_threads_future_status_and_result(url):
    release = threading.Event()

    class Held(cachework.Work):
        def run(self, x: int) -> int:
            release.wait(10)  # the test sees it running, then lets it finish
            self.last = x
            return x * 2

    w = Held(store=url, parallel=True)
    future = w.run(3)
    assert isinstance(future, cf.Future)
    deadline = time.monotonic() + 10
    while w.status != "running" and time.monotonic() < deadline:
        time.sleep(0.01)  # the background claim opens the store first (migrations on PG)
    assert w.status == "running" and w.is_running and not future.done()
    release.set()
    assert w.wait(10) == 6 and future.result() == 6
    assert w.has_succeeded and w.last == 3
    again = w.run(3)  # a hit, still through a Future
    assert again.result(10) == 6


def test_background_failure_reaches_the_future_and_history(url):
    w = Slow(store=url, parallel=True, name="bg")
    future = w.run(1, fail=True)
    assert isinstance(future.exception(10), ValueError)
    assert w.has_failed
    (run,) = cachework.Store(url).history(work="bg")
    assert run.status == "failed" and run.error == "failed on 1"


def test_two_parallel_calls_of_one_key_execute_once(url):
    ran = []
    lock = threading.Lock()

    class Once(cachework.Work):
        def run(self, x):
            with lock:
                ran.append(x)
            time.sleep(0.3)
            return x

    a, b = Once(store=url, parallel=True, name="once"), Once(store=url, parallel=True, name="once")
    fa, fb = a.run(9), b.run(9)
    assert fa.result(10) == fb.result(10) == 9
    assert ran == [9]


def _square(x: int) -> int:
    return x * x


def test_process_pool_executor(sqlite_url):
    with cf.ProcessPoolExecutor(max_workers=2) as pool:
        w = Slow(store=sqlite_url, parallel=True, executor=pool, name="pp")
        futures = [w.run(i) for i in range(3)]
        assert [f.result(60) for f in futures] == [0, 2, 4]
        assert w.has_succeeded and w.last in (0, 1, 2)
        bad = w.run(5, fail=True)
        with pytest.raises(ValueError, match="failed on 5"):
            bad.result(60)
        assert w.has_failed
    runs = cachework.Store(sqlite_url).history(work="pp", limit=None)
    assert sorted(r.status for r in runs) == ["failed", "succeeded", "succeeded", "succeeded"]
    assert all(r.pid != __import__("os").getpid() for r in runs)


def test_a_call_a_process_pool_cannot_receive_names_what_and_submits_nothing(sqlite_url):
    class Holder(cachework.Work):
        def __init__(self, **options):
            super().__init__(**options)
            self.guard = threading.Lock()  # state that cannot travel to another process

        def run(self, x, out=None):
            return x

    with cf.ProcessPoolExecutor(max_workers=1) as pool:
        w = Holder(store=sqlite_url, parallel=True, executor=pool, name="held")
        with pytest.raises(TypeError, match=r"attribute 'guard' cannot be pickled.*thread exe"):
            w.run(1)
        assert w.status == "not_started"
        del w.guard
        with pytest.raises(TypeError, match=r"held: .*argument 'out' cannot be pickled"):
            w.run(2, out=threading.Lock())
        assert w.run(3).result(60) == 3 and w.status == "succeeded"
    runs = cachework.Store(sqlite_url).history(work="held")
    assert [r.args["x"] for r in runs] == [3]  # nothing ran or was claimed for the refused calls


def test_decorated_function_in_parallel(url):
    f = cachework.work(name="psq", store=url, parallel=True)(_square)
    assert f(4).result(10) == 16
    assert f.wait() == 16


class _Counting:
    """An executor that counts what it is given; calls run as its base class runs them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.submitted = 0

    def submit(self, fn, /, *args, **kwargs):
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


class _CountingThreads(_Counting, cf.ThreadPoolExecutor):
    pass


class _CountingProcesses(_Counting, cf.ProcessPoolExecutor):
    pass


class Doubler(cachework.Work):
    def run(self, x: int) -> int:
        self.seen = x
        return x * 2


@pytest.mark.parametrize("pool_class", [_CountingThreads, _CountingProcesses])
def test_a_hit_is_answered_in_the_caller_and_never_reaches_the_executor(sqlite_url, pool_class):
    """Only a miss is submitted: a hit comes back as a Future already done, with the state
    restored on the work, and the pool (threads, processes, a cluster) never sees it."""
    with pool_class(max_workers=1) as pool:
        w = Doubler(store=sqlite_url, parallel=True, executor=pool, name="doubler")
        assert w.run(3).result(60) == 6
        assert pool.submitted == 1
        again = Doubler(store=sqlite_url, parallel=True, executor=pool, name="doubler")
        future = again.run(3)
        assert future.done() and future.result() == 6
        assert pool.submitted == 1  # the hit was answered without the pool
        assert again.status == "succeeded" and again.seen == 3
        assert again.wait() == 6
        assert again.run(4).result(60) == 8  # a new argument is a miss: submitted
        assert pool.submitted == 2


def test_a_parallel_hit_on_either_dialect_is_answered_without_a_thread(url):
    with _CountingThreads(max_workers=1) as pool:
        f = cachework.work(name="psq.counted", store=url, parallel=True, executor=pool)(_square)
        assert f(5).result(30) == 25
        hit = f(5)
        assert hit.done() and hit.result() == 25 and pool.submitted == 1

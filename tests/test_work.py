"""Call semantics of Work and @work, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import json
import logging
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
import sqlalchemy as sa

import cachework
from cachework import StoreError, UnhashableArgument, UnstorableResult


class Counter:
    def __init__(self):
        self.n = 0


def make_processor(url, counter, **options):
    class DataProcessor(cachework.Work):
        def __init__(self):
            super().__init__(name="processor", store=url, **options)
            self.data = None

        def run(self, day: str, scale: int = 1) -> dict:
            counter.n += 1
            self.data = f"/data/{day}.parquet"
            return {"day": day, "scale": scale}

    return DataProcessor()


def test_second_call_hits_and_restores_state(url):
    c = Counter()
    dp = make_processor(url, c)
    assert dp.status == "not_started" and not dp.has_started
    assert dp.run("2022-05-25") == {"day": "2022-05-25", "scale": 1}
    assert dp.has_succeeded and dp.data == "/data/2022-05-25.parquet"
    fresh = make_processor(url, c)
    assert fresh.data is None
    assert fresh.run(day="2022-05-25", scale=1) == {"day": "2022-05-25", "scale": 1}
    assert fresh.data == "/data/2022-05-25.parquet" and fresh.status == "succeeded"
    assert c.n == 1
    fresh.run("2022-05-26")
    assert c.n == 2


def test_defaults_are_bound_so_spellings_share_a_key(url):
    c = Counter()
    dp = make_processor(url, c)
    dp.run("d")
    dp.run("d", 1)
    dp.run(day="d", scale=1)
    dp.run(scale=1, day="d")
    assert c.n == 1
    assert dp.key("d") == dp.key(day="d", scale=1)


def test_a_hit_returns_a_fresh_copy(url):
    c = Counter()
    dp = make_processor(url, c)
    first = dp.run("x")
    first["day"] = "mutated"
    assert dp.run("x")["day"] == "x"


def test_failure_is_recorded_reraised_and_retried(url):
    calls = []

    @cachework.work(name="flaky", store=url)
    def flaky(x: int) -> int:
        calls.append(x)
        if len(calls) == 1:
            raise ValueError("boom")
        return x * 2

    with pytest.raises(ValueError, match="boom"):
        flaky(3)
    assert flaky.has_failed and flaky.status == "failed"
    assert flaky(3) == 6 and flaky(3) == 6
    assert calls == [3, 3]
    runs = cachework.Store(url).history(work="flaky")
    assert [r.status for r in runs] == ["succeeded", "failed"]
    failed = runs[1]
    assert failed.error_type == "ValueError" and failed.error == "boom"
    assert "raise ValueError" in failed.traceback
    assert failed.duration_s is not None and failed.finished_at >= failed.started_at


def test_an_exception_whose_str_raises_is_still_recorded_and_reraised(url, caplog):
    """The caller gets its own exception, and the entry is not left running."""

    class Opaque(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no text")

    @cachework.work(name="opaque", store=url)
    def f(x):
        raise Opaque()

    with caplog.at_level(logging.INFO, logger="cachework"), pytest.raises(Opaque):
        f(1)
    (run,) = cachework.Store(url).history(work="opaque")
    assert (run.status, run.error_type, run.error) == (
        "failed",
        Opaque.__qualname__,
        "<exception str() failed>",
    )
    assert "failed opaque" in caplog.text
    (call,) = cachework.Store(url).calls(work="opaque")
    assert call.status == "failed" and call.owner is None


def test_cache_calls_false_runs_every_time_and_records_every_run(url):
    calls = []

    @cachework.work(name="always", store=url, cache_calls=False)
    def always(value: int) -> int:
        calls.append(value)
        return value

    for _ in range(4):
        assert always(value=1) == 1
    always(value=10)
    assert calls == [1, 1, 1, 1, 10]
    runs = cachework.Store(url).history(work="always", limit=None)
    assert len(runs) == 5 and all(not r.cached and r.status == "succeeded" for r in runs)
    assert [r.args["value"] for r in runs] == [10, 1, 1, 1, 1]


def test_ttl_expires_an_entry(url, caplog):
    calls = []

    @cachework.work(name="ttl", store=url, ttl=dt.timedelta(seconds=1))
    def f(x):
        calls.append(x)
        return x

    f(1)
    f(1)
    assert calls == [1]
    time.sleep(1.1)
    with caplog.at_level(logging.INFO, logger="cachework"):
        f(1)
    assert calls == [1, 1]
    assert "expired" in caplog.text


def test_version_joins_the_key(url, caplog):
    calls = []

    def make(version):
        @cachework.work(name="versioned", store=url, version=version)
        def f(x):
            calls.append((version, x))
            return x

        return f

    make(1)(5)
    make(1)(5)
    with caplog.at_level(logging.INFO, logger="cachework"):
        make(2)(5)
    assert calls == [(1, 5), (2, 5)]
    assert "new version" in caplog.text


def test_work_forget_removes_exactly_that_key(url, caplog):
    c = Counter()
    dp = make_processor(url, c)
    dp.run("a")
    dp.run("b")
    assert dp.forget(day="a") is True
    assert dp.forget("zzz") is False
    with caplog.at_level(logging.INFO, logger="cachework"):
        dp.run("a")
    dp.run("b")
    assert c.n == 3
    assert "forgotten" in caplog.text


def test_store_forget_by_stored_values_without_the_code(url):
    c = Counter()
    dp = make_processor(url, c)
    dp.run("2022-05-25")
    dp.run("2022-05-25", scale=2)
    dp.run("2022-05-26")
    store = cachework.Store(url)
    assert store.forget("processor", day="2022-05-25") == 2
    assert store.forget("processor", scale="1") == 0  # "1" is not 1
    dp.run("2022-05-25")
    dp.run("2022-05-26")
    assert c.n == 4
    with pytest.raises(ValueError):
        store.forget("processor")


def test_status_properties_follow_the_latest_call(url):
    seen = {}
    gate = threading.Event()

    class Slow(cachework.Work):
        def run(self, x):
            seen["during"] = (self.status, self.is_running, self.has_started)
            gate.wait(5)
            if x < 0:
                raise RuntimeError("negative")
            return x

    w = Slow(store=url)
    assert (w.status, w.has_started, w.is_running, w.has_succeeded, w.has_failed) == (
        "not_started",
        False,
        False,
        False,
        False,
    )
    gate.set()
    w.run(1)
    assert seen["during"] == ("running", True, True)
    assert w.has_succeeded and not w.has_failed and not w.is_running
    with pytest.raises(RuntimeError):
        w.run(-1)
    assert w.has_failed and w.status == "failed"


def test_logging_says_runs_hits_and_reasons(url, caplog):
    @cachework.work(name="logged", store=url)
    def f(x):
        if x == "bad" and not getattr(f, "fixed", False):
            raise KeyError(x)
        return x

    with caplog.at_level(logging.DEBUG, logger="cachework"):
        f("a")
        f("a")
        with pytest.raises(KeyError):
            f("bad")
        f.fixed = True
        f("bad")
    text = caplog.text
    assert "running logged" in text and ": new" in text
    assert "hit logged" in text
    assert "failed before" in text


def test_seed_scenario_args_are_queryable_by_name(url):
    printed = []

    class ExampleWork(cachework.Work):
        def run(self, *args, **kwargs):
            printed.append((args, kwargs))

    work = ExampleWork(store=url)
    for _ in range(5):
        work.run(value=1)
    work.run(value=10)
    assert printed == [((), {"value": 1}), ((), {"value": 10})]
    runs = cachework.Store(url).history(work=work.name)
    assert sorted(r.args["value"] for r in runs) == [1, 10]
    assert runs[0].args == {"args": [], "value": 10}


def test_a_stored_none_is_a_hit(url):
    calls = []

    @cachework.work(store=url)
    def nothing(x):
        calls.append(x)

    assert nothing(1) is None and nothing(1) is None
    assert calls == [1]


def test_unhashable_argument_is_raised_before_running(url):
    ran = []

    @cachework.work(store=url)
    def f(cfg):
        ran.append(cfg)

    with open(__file__) as fh, pytest.raises(UnhashableArgument, match="argument 'cfg' at"):
        f({"paths": ["a", fh]})
    assert ran == []


def test_unstorable_result_is_recorded_failed_and_never_served(url):
    calls = []

    @cachework.work(name="unstorable", store=url)
    def f(x):
        calls.append(x)
        return threading.Lock()

    for _ in range(2):
        with pytest.raises(UnstorableResult, match="lock"):
            f(1)
    assert calls == [1, 1]
    runs = cachework.Store(url).history(work="unstorable")
    assert [r.error_type for r in runs] == ["UnstorableResult", "UnstorableResult"]


def test_max_result_bytes(url):
    @cachework.work(name="big", store=url, max_result_bytes=1000)
    def f(n):
        return b"x" * n

    assert f(10) == b"x" * 10
    with pytest.raises(UnstorableResult, match="over max_result_bytes"):
        f(5000)


def test_corrupt_stored_result_is_a_miss_with_a_warning(url):
    calls = []

    @cachework.work(name="corrupt", store=url)
    def f(x):
        calls.append(x)
        return [x]

    f(1)
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE cachework_calls SET result = :b"), {"b": b"not a pickle"})
    engine.dispose()
    with pytest.warns(RuntimeWarning, match="no longer loads"):
        assert f(1) == [1]
    assert calls == [1, 1]
    assert f(1) == [1] and calls == [1, 1]


def test_decorator_keeps_signature_docstring_and_name(sqlite_url):
    @cachework.work(store=sqlite_url)
    def ingest(day: str, limit: int = 10) -> int:
        """Ingest one day."""
        return limit

    assert ingest.__doc__ == "Ingest one day."
    assert ingest.__name__ == "ingest"
    assert list(inspect.signature(ingest).parameters) == ["day", "limit"]
    assert (
        ingest.name
        == f"{__name__}.test_decorator_keeps_signature_docstring_and_name.<locals>.ingest"
    )
    with pytest.raises(TypeError):
        ingest()  # missing argument: the same TypeError Python gives


def test_configuration_is_read_only_and_not_state(sqlite_url):
    class W(cachework.Work):
        def run(self):
            self.out = 1
            return 2

    w = W(store=sqlite_url, name="w", version=3, ttl=60)
    assert (w.name, w.version, w.ttl, w.cache_calls, w.parallel) == ("w", 3, 60.0, True, False)
    with pytest.raises(AttributeError):
        w.name = "other"
    w.run()
    assert json.loads(json.dumps(w._state())) == {"out": 1}


def test_subclass_without_super_init_still_works(sqlite_url, monkeypatch):
    monkeypatch.setenv("CACHEWORK_URL", sqlite_url)
    calls = []

    class NoInit(cachework.Work):
        def __init__(self):
            self.x = 0

        def run(self, a):
            calls.append(a)
            self.x = a

    w = NoInit()
    w.run(4)
    w2 = NoInit()
    w2.run(4)
    assert calls == [4] and w2.x == 4


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="on_running"):
        cachework.Work(on_running="later")
    with pytest.raises(ValueError, match="ttl"):
        cachework.Work(ttl=-1)
    with pytest.raises(ValueError, match="every"):
        cachework.Work(every="fortnight")
    # Each would pass as a number and fail only after a run, when its time is computed.
    for option, value in [("ttl", float("nan")), ("ttl", float("inf")), ("lease", float("inf"))]:
        with pytest.raises(ValueError, match=f"{option} must be a positive, finite number"):
            cachework.Work(**{option: value})
    for value in (-1, "soon", float("nan")):
        with pytest.raises(ValueError, match="wait_timeout must be a non-negative"):
            cachework.Work(wait_timeout=value)
    assert cachework.Work(wait_timeout=dt.timedelta(seconds=2)).wait_timeout == 2.0
    with pytest.raises(ValueError, match="tz='Europe/Paris' is the zone of every= periods"):
        cachework.Work(tz="Europe/Paris")
    for value in (0, -1, 1.5, "1kB", True):
        with pytest.raises(ValueError, match="max_result_bytes must be a positive whole number"):
            cachework.Work(max_result_bytes=value)


def test_every_option_reads_back_through_its_own_read_only_property(tmp_path):
    """Each option given to Work(...) or @work(...) reads back, as checked, through a
    property of the same name; none can be set afterwards, and every option of the
    signature has one (tz, on_running and lease once had none)."""
    given = {
        "name": "opts",
        "store": str(tmp_path / "c.db"),
        "cache_calls": False,
        "version": 2,
        "ttl": dt.timedelta(seconds=3),
        "parallel": True,
        "every": "day",
        "tz": "UTC",
        "on_running": "skip",
        "wait_timeout": 4,
        "lease": dt.timedelta(seconds=5),
        "executor": None,
        "max_result_bytes": 6,
        "lag": 1,
        "catchup": "2026-01-02",
        "catchup_limit": 7,
        "ignore": ("x",),
    }
    signature = inspect.signature(cachework.Work.__init__)
    assert [p for p in signature.parameters if p != "self"] == list(given)
    w = cachework.Work(**given)
    f = cachework.work(**given)(lambda x: x)
    for made in (w, f):
        read = {option: getattr(made, option) for option in given}
        assert read.pop("store").url == cachework.Store(given["store"]).url
        assert read == {
            **{k: v for k, v in given.items() if k != "store"},
            "ttl": 3.0,
            "wait_timeout": 4.0,
            "lease": 5.0,
            "catchup": cachework.Period.of("day", "UTC", "2026-01-02"),
        }
        for option in given:
            with pytest.raises(AttributeError):
                setattr(made, option, given[option])
    # Options left out read as their defaults, the same as the signature's.
    plain = cachework.Work()
    for option, parameter in signature.parameters.items():
        if option not in ("self", "name", "store", "lease", "ignore"):  # resolved at first use
            assert getattr(plain, option) == parameter.default, option
    assert plain.ignore == ()  # None: the class's ignore = (...), none here


def test_coroutine_and_generator_functions_are_refused_where_defined(tmp_path):
    """Their calls return an object to await or iterate, which cannot be stored: refused at
    definition, before anything runs or is written, rather than failing on every call."""
    store = str(tmp_path / "lazy.db")

    async def fetch(day):
        return day

    def rows(day):
        yield day

    async def stream(day):
        yield day

    for fn, returns in ((fetch, "a coroutine"), (rows, "a generator"), (stream, "an async gen")):
        with pytest.raises(
            TypeError, match=f"the function .*{fn.__name__}: its calls return {returns}"
        ):
            cachework.work(store=store)(fn)

    with pytest.raises(TypeError, match=r"the run method .*Fetch\.run: .*coroutine.*asyncio\.run"):

        class Fetch(cachework.Work):
            async def run(self, day):
                return day

    assert not (tmp_path / "lazy.db").exists()

    def plain(day):
        return asyncio.run(fetch(day))  # the way the error suggests

    assert cachework.work(store=store)(plain)("mon") == "mon"


def test_cachework_lease_is_read_at_a_works_first_run(sqlite_url, monkeypatch):
    """The lease a claim records comes from CACHEWORK_LEASE as set when the work first ran;
    a bad value names the variable and runs nothing."""
    ran = []

    @cachework.work(name="leased", store=sqlite_url)
    def f(x):
        ran.append(x)
        return x

    monkeypatch.setenv("CACHEWORK_LEASE", "soon")
    with pytest.raises(ValueError, match="CACHEWORK_LEASE must be a positive number.*'soon'"):
        f(1)
    assert ran == []

    monkeypatch.setenv("CACHEWORK_LEASE", "7")
    f(2)
    monkeypatch.setenv("CACHEWORK_LEASE", "9")
    f(3)
    assert ran == [2, 3]
    conn = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    leases = conn.execute("SELECT lease_s FROM cachework_calls WHERE work = 'leased'").fetchall()
    conn.close()
    assert sorted(leases) == [(7.0,), (7.0,)]  # the claim records the lease its owner keeps


def test_bad_store_is_a_store_error_naming_it(tmp_path):
    with pytest.raises(StoreError, match="not 123"):
        cachework.Store(123)  # type: ignore[arg-type]

    @cachework.work(store=str(tmp_path / "missing" / "x.db"))
    def f():
        return 1

    with pytest.raises(StoreError, match="missing"):
        f()

    folder = cachework.Store(tmp_path)  # a folder where the database file should be
    with pytest.raises(StoreError, match=f"{tmp_path} is a folder, not a database file"):
        folder.works()

    # Another database: refused by name before anything connects; the password stays unsaid.
    with pytest.raises(StoreError, match=r"sqlite:// or postgresql://.*not mysql://$") as e:
        cachework.work(store="mysql://root:secret@127.0.0.1/test")(f)
    assert "secret" not in str(e.value)
    with pytest.raises(StoreError, match="through psycopg 3.*not postgresql\\+psycopg2://$"):
        cachework.Store("postgresql+psycopg2://u:secret@127.0.0.1/test")
    bare = cachework.Store("postgresql://u@127.0.0.1/test")  # nothing connects until used
    assert bare.url == "postgresql+psycopg://u@127.0.0.1/test"


def test_not_a_database_is_a_store_error_and_stays_untouched(tmp_path):
    path = tmp_path / "garbage.db"
    data = b"this is not sqlite" * 500
    path.write_bytes(data)

    @cachework.work(store=str(path))
    def f():
        return 1

    with pytest.raises(StoreError, match="not a database"):
        f()
    assert path.read_bytes() == data


def test_remembered_keys_keep_every_distinction(url):
    """Identical scalar calls reuse their key; nothing that keys apart may share one."""
    seen = []

    @cachework.work(name="memo", store=url)
    def f(a, b=None, opts=None):
        seen.append((a, b))
        return (type(a).__name__, a, b)

    calls = [(1,), (True,), ("1",), (b"1",), (1.0,), (-0.0,), (0.0,), (None,), (1, 2), (1, True)]
    for _ in range(3):  # a miss, a hit that fills the memo, a hit served from it
        for args in calls:
            assert f(*args)[:2] == (type(args[0]).__name__, args[0])
        assert f(a=1, b=2) == ("int", 1, 2)
    assert len(seen) == len(calls)  # (1, 2) and a=1, b=2 are one call
    assert len({f.key(*args) for args in calls}) == len(calls)


def test_a_forget_from_another_process_is_seen_by_the_next_call(url):
    """The key memo keeps keys, never entries: each call still reads the store, so an entry
    forgotten by another process runs again at once, however long this one has been hitting."""
    ran = []

    @cachework.work(name="seen", store=url)
    def f(day: str) -> str:
        ran.append(day)
        return day.upper()

    forget = [sys.executable, "-m", "cachework", "--url", url, "forget", "seen"]
    for _ in range(5):  # a miss, then hits keyed without binding (every argument by position)
        assert f("mon") == "MON"
    proc = subprocess.run([*forget, "--key", f.key("mon")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f("mon") == "MON"
    assert ran == ["mon", "mon"]
    for _ in range(5):  # hits by keyword, which fill and then use the memo
        assert f(day="mon") == "MON"
    assert f.__dict__.get("_cw_keys")  # the memo this test is about is in use
    proc = subprocess.run([*forget, "--key", f.key("mon")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f(day="mon") == "MON"
    assert ran == ["mon", "mon", "mon"]


def test_a_memo_that_fills_up_rests_and_comes_back(url, monkeypatch):
    """More distinct scalar hits than the key memo holds (a pipeline's): once full, the memo
    rests for MEMO_REST calls (keys computed in full, nothing remembered), then fills again.
    Every call keys as before throughout: nothing runs twice, every hit returns its own."""
    from cachework import _binding

    monkeypatch.setattr(_binding, "KEY_MEMO_SIZE", 4)
    monkeypatch.setattr(_binding, "MEMO_REST", 6)
    ran = []

    @cachework.work(name="rests", store=url)
    def f(day: str, n: int) -> str:
        ran.append((day, n))
        return f"{day}/{n}"

    days = [(f"d{i}", i) for i in range(10)]
    states = []
    for _ in range(4):
        for day, n in days:  # by keyword: calls by position are keyed without the memo
            assert f(day, n=n) == f"{day}/{n}"
            memo = f.__dict__.get("_cw_keys")
            states.append("rest" if isinstance(memo, int) else "dict" if memo else "none")
    assert sorted(ran) == sorted(days)  # each ran once, whatever the memo did
    assert "rest" in states  # it filled up and rested...
    assert "dict" in states[states.index("rest") :]  # ...and filled again afterwards
    # After a rest, repeated calls are served from the memo again.
    for _ in range(_binding.MEMO_REST + 3):
        assert f("d1", n=1) == "d1/1"
    memo = f.__dict__.get("_cw_keys")
    assert isinstance(memo, dict) and memo
    assert len(ran) == len(days)


def test_a_mutated_default_changes_the_key(sqlite_url):
    ran = []

    @cachework.work(store=sqlite_url)
    def f(x, opts=[]):  # noqa: B006 - the point of the test
        ran.append(list(opts))
        return len(opts)

    assert f(1) == 0 and f(1) == 0
    f.__wrapped__.__defaults__[0].append("new")
    assert f(1) == 1
    assert ran == [[], ["new"]]


def test_unpicklable_public_state_is_named_and_private_state_is_fine(sqlite_url):
    class WithLock(cachework.Work):
        def __init__(self, public):
            super().__init__(store=sqlite_url, name=f"lock.{public}")
            if public:
                self.lock = threading.Lock()
            else:
                self._lock = threading.Lock()

        def run(self, x):
            self.out = x
            return x

    with pytest.raises(UnstorableResult, match=r"work state \(lock, out\)"):
        WithLock(True).run(1)
    assert WithLock(False).run(1) == 1
    fresh = WithLock(False)
    assert fresh.run(1) == 1 and fresh.out == 1


def test_a_keyword_named_like_a_positional_only_parameter_stays_apart(url):
    calls = []

    @cachework.work(name="posonly", store=url)
    def f(data, /, **kw):
        calls.append((data, kw))
        return (data, kw)

    @cachework.work(name="varargs", store=url)
    def g(*items, **kw):
        calls.append((items, kw))
        return (items, kw)

    for _ in range(2):
        assert f(2, data=3) == (2, {"data": 3})
        assert f(100, data=3) == (100, {"data": 3})
        assert g(1, items=2) == ((1,), {"items": 2})
        assert g(items=2) == ((), {"items": 2})
    assert len(calls) == 4
    assert f.key(2, data=3) != f.key(100, data=3) and g.key(1, items=2) != g.key(items=2)
    # A keyword that already starts with the colliding spelling cannot meet it either.
    assert f.key(2, **{"**data": 3}) != f.key(2, data=3)
    args = sorted(
        (json.dumps(r.args, sort_keys=True) for r in cachework.Store(url).history()), key=str
    )
    assert args == sorted(
        [
            '{"**data": 3, "data": 2}',
            '{"**data": 3, "data": 100}',
            '{"**items": 2, "items": [1]}',
            '{"**items": 2, "items": []}',
        ]
    )


def test_keywords_that_collide_with_nothing_keep_their_key_and_args(url):
    @cachework.work(name="flat", store=url)
    def f(data, /, *rest, **kw):
        return data

    f(1, 2, other=3)
    (run,) = cachework.Store(url).history(work="flat")
    assert run.args == {"data": 1, "rest": [2], "other": 3}
    assert f.key(1, 2, other=3) == cachework.key_for({"data": 1, "rest": [2], "other": 3})


def test_a_claim_that_raises_leaves_the_status_as_it_was(url):
    @cachework.work(name="claims", store=url)
    def f(x):
        return x

    assert f(1) == 1 and f.status == "succeeded"
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # the next claim cannot write its history row
        conn.exec_driver_sql("DROP TABLE cachework_runs")
    engine.dispose()
    with pytest.raises(StoreError):
        f(2)
    assert f.status == "succeeded"
    fresh = cachework.work(name="claims", store=url)(lambda x: x)
    with pytest.raises(StoreError):
        fresh(3)
    assert fresh.status == "not_started"
    assert f(1) == 1  # hits still served


def _limit_length(store: cachework.Store, limit: int) -> None:
    """Lower SQLite's SQLITE_LIMIT_LENGTH on this thread's connection of the store."""
    store._ensure().connection().setlimit(sqlite3.SQLITE_LIMIT_LENGTH, limit)


def test_a_result_the_database_cannot_hold_is_refused_before_the_write(sqlite_url):
    store = cachework.Store(sqlite_url)

    class Blob(cachework.Work):
        def run(self, n, state_n=0):
            if state_n:
                self.state = b"s" * state_n
            return b"x" * n

    blob = Blob(name="blob", store=store)
    blob.run(1)
    _limit_length(store, 2_000_000)  # as if SQLite were built with a 2 MB limit
    assert blob.run(1_500_000) == b"x" * 1_500_000 and blob.run(1_500_000) == b"x" * 1_500_000
    for _ in range(2):
        with pytest.raises(
            UnstorableResult, match="the return value is 2,500,0.. bytes, more than"
        ):
            blob.run(2_500_000)
        assert blob.status == "failed"
    # The result and the state fit one by one, not together in one entry.
    with pytest.raises(
        UnstorableResult, match="the return value and the state are 2,000,0.. bytes"
    ):
        blob.run(1_000_000, state_n=1_000_000)
    runs = store.history(work="blob", limit=None)
    assert [(r.status, r.error_type) for r in runs] == [
        ("failed", "UnstorableResult"),
        ("failed", "UnstorableResult"),
        ("failed", "UnstorableResult"),
        ("succeeded", None),
        ("succeeded", None),
    ]
    store.close()


def test_the_largest_entry_is_read_from_the_database(url):
    store = cachework.Store(url)
    backend = store._ensure()
    if store.dialect == "sqlite":
        default = sqlite3.connect(":memory:").getlimit(sqlite3.SQLITE_LIMIT_LENGTH)
        assert backend.max_blob_bytes() == default
        _limit_length(store, 5_000_000)
        assert backend.max_blob_bytes() == 5_000_000
    else:
        assert backend.max_blob_bytes() == 2**30 - 1  # PostgreSQL's MaxAllocSize
    store.close()

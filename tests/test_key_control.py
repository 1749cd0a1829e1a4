"""Control over the key (issue 17): ignore=, work.refresh(), CACHEWORK_REFRESH, register_encoder."""

from __future__ import annotations

import array
import collections
import concurrent.futures as cf
import datetime as dt
import decimal
import fractions
import functools
import http
import ipaddress
import json
import logging
import math
import pathlib
import re
import threading
import time
import types
import uuid
import zoneinfo
from pathlib import Path

import numpy as np
import pytest
from conftest import run_script

import cachework
from cachework import UnhashableArgument, key_for, register_encoder
from cachework import _keys as keys


def k(value):
    return key_for({"x": value})


@pytest.fixture(autouse=True)
def _no_registrations(monkeypatch):
    """Every test starts without registered encoders and leaves none behind."""
    monkeypatch.setattr(keys, "_registry", None)


class Counter:
    def __init__(self):
        self.n = 0


# -- ignore= ------------------------------------------------------------------------------------
def test_ignored_parameters_leave_the_key_and_the_args_json(url):
    ran = []

    @cachework.work(name="fit", store=url, ignore=("verbose", "n_jobs"))
    def fit(day: str, verbose: bool = False, n_jobs: int = 1) -> str:
        ran.append((day, verbose, n_jobs))
        return day

    assert fit("d") == "d"
    assert fit("d", verbose=True, n_jobs=8) == "d"  # a hit: the ignored values do not count
    assert fit("d", True, 4) == "d"
    assert ran == [("d", False, 1)]
    assert fit("e", verbose=True) == "e"
    assert ran == [("d", False, 1), ("e", True, 1)]  # the function still receives them
    assert fit.key("d", verbose=True) == fit.key("d") == key_for({"day": "d"})
    store = fit.store
    assert sorted(json.dumps(c.args) for c in store.calls("fit")) == [
        '{"day": "d"}',
        '{"day": "e"}',
    ]
    assert all("verbose" not in r.args for r in store.history("fit"))
    assert fit.ignore == ("n_jobs", "verbose")


def test_ignore_on_a_work_class_by_constructor_and_by_class_attribute(url):
    c = Counter()

    class Train(cachework.Work):
        ignore = ("verbose",)  # the default of ignore= for this class

        def run(self, data: str, verbose: bool = False, seed: int = 0) -> str:
            c.n += 1
            self.trained_on = data
            return data

    t = Train(name="train", store=url)
    assert t.ignore == ("verbose",)
    t.run("a")
    t.run("a", verbose=True)
    assert c.n == 1 and t.trained_on == "a"
    t.run("a", seed=1)
    assert c.n == 2

    both = Train(name="train", store=url, ignore=("verbose", "seed"))  # the constructor's wins
    assert both.ignore == ("seed", "verbose")
    assert both.key("a", seed=5) == both.key("a") != t.key("a", seed=5)
    assert Train(name="train", store=url, ignore=()).key("a", verbose=True) != t.key("a")


def test_calls_by_position_hit_the_calls_by_name_they_equal_under_every_ignore(url):
    """A call passing every argument by position is keyed without binding (``_keys``'
    positional key, kept beside the binder): it must meet exactly the calls by name it
    equals, under a class's ignore, a constructor's, and none."""
    c = Counter()

    class Train(cachework.Work):
        ignore = ("verbose",)

        def run(self, data: str, verbose: bool, seed: int) -> str:
            c.n += 1
            return data

    t = Train(name="train", store=url)
    t.run("a", verbose=False, seed=0)
    t.run("a", True, 0)  # verbose ignored by the class
    assert c.n == 1
    t.run("a", True, 1)
    assert c.n == 2
    both = Train(name="train", store=url, ignore=("verbose", "seed"))
    both.run(data="a", verbose=True, seed=7)
    both.run("a", False, 9)  # seed ignored by this instance, not by the class
    assert c.n == 3
    t.run("a", False, 9)  # ...nor by an instance of the class's own ignore
    assert c.n == 4
    none = Train(name="train", store=url, ignore=())
    none.run("a", True, 0)
    none.run("a", verbose=True, seed=0)
    assert c.n == 5
    none.run("a", False, 0)
    assert c.n == 6


def test_a_subclass_inherits_the_class_ignore_and_is_checked_against_its_own_run():
    class Base(cachework.Work):
        ignore = "verbose"

        def run(self, x, verbose=False):
            return x

    class Child(Base):
        def run(self, x, verbose=False, extra=0):
            return x

    assert Child().ignore == ("verbose",)
    assert Child().key(1, verbose=True) == Child().key(1)
    with pytest.raises(ValueError, match="'verbose'.*not a parameter of .*Orphan.run"):

        class Orphan(Base):
            def run(self, x):
                return x


def test_a_method_named_ignore_is_the_class_own_business():
    class Filter(cachework.Work):
        def ignore(self, line):  # not the option: a method of the work's own
            return line.startswith("#")

        def run(self, text):
            return [line for line in text if not self.ignore(line)]

    assert Filter().run(["#a", "b"]) == ["b"]
    assert Filter._cw_options.ignore == ()


@pytest.mark.parametrize(
    "make",
    [
        lambda: cachework.work(ignore="verbos")(lambda day, verbose=False: day),
        lambda: cachework.work(ignore=("day", "verbos"))(lambda day, verbose=False: day),
        lambda: cachework.work(ignore="self")(lambda day: day),
    ],
)
def test_a_name_that_is_not_a_parameter_is_refused_where_the_work_is_made(make):
    with pytest.raises(
        ValueError, match=r"ignore= names '(verbos|self)', which is not a parameter"
    ):
        make()


def test_ignore_is_checked_on_work_classes_too():
    class Fit(cachework.Work):
        def run(self, day, verbose=False):
            return day

    with pytest.raises(ValueError, match="'verbos'.*its parameters: day, verbose"):
        Fit(ignore=["verbos"])
    with pytest.raises(ValueError, match="'self'"):
        Fit(ignore="self")  # self is never part of the key: not a parameter to ignore
    with pytest.raises(ValueError, match="'quiet'"):

        class Quiet(cachework.Work):
            ignore = ("quiet",)

            def run(self, day):
                return day

    with pytest.raises(TypeError, match="ignore"):
        Fit(ignore=[1])
    with pytest.raises(TypeError, match="ignore"):
        Fit(ignore=3)


def test_ignoring_period_of_an_every_work_is_refused():
    with pytest.raises(ValueError, match="period"):
        cachework.work(every="day", ignore="period")(lambda period, verbose=False: period.label)


def test_ignoring_star_args_and_star_star_kwargs():
    @cachework.work(ignore=("options",))
    def plot(x, *, title="", **options):
        return x

    assert plot.key(1, color="red") == plot.key(1, width=3) == plot.key(1)
    assert plot.key(1, title="a") != plot.key(1)  # a keyword-only parameter still counts

    @cachework.work(ignore="paths")
    def log_to(level, *paths):
        return level

    assert log_to.key(1, "a", "b") == log_to.key(1) != log_to.key(2, "a")

    @cachework.work(ignore="verbose")
    def kw(x, /, verbose=False, **more):
        return x

    # **more still counts; only verbose goes
    assert kw.key(1, verbose=True, a=1) == kw.key(1, a=1) != kw.key(1, a=2)


def test_the_key_memo_never_serves_a_call_whose_kept_arguments_differ(url):
    """Repeated scalar calls skip binding and hashing through a memo of their arguments;
    with ignore= several argument tuples share a key, and none may borrow another's."""
    ran = []

    @cachework.work(name="memo", store=url, ignore="verbose")
    def f(x: int, verbose: bool = False) -> int:
        ran.append(x)
        return x * 10

    for _ in range(3):  # the second and third hit and fill the memo
        assert f(1, verbose=True) == 10
        assert f(1) == 10
    assert f(2, verbose=True) == 20  # the memo of (1, True) must not answer (2, True)
    assert f(1, False) == 10 and f(x=1, verbose=True) == 10
    assert ran == [1, 2]
    assert f.key(2, verbose=True) == f.key(2) != f.key(1, verbose=True)
    assert f.forget(1, verbose=True)  # the one entry of x=1, whatever verbose was
    assert f(1) == 10 and ran == [1, 2, 1]


def test_an_every_work_ignores_in_its_keys_and_its_gaps(url):
    ran = []

    @cachework.work(name="daily", store=url, every="day", tz="UTC", ignore="verbose")
    def daily(verbose: bool = False) -> str:
        ran.append(verbose)
        return "ok"

    daily()
    daily(verbose=True)
    assert ran == [False]
    today = cachework.period_label("day", "UTC")
    assert daily.missing(today, today, verbose=True) == []  # the gap check keys the same way
    (call,) = daily.store.calls("daily")
    assert call.args == {"_period": today}

    @cachework.work(name="dated", store=url, every="day", tz="UTC", ignore="verbose")
    def dated(period: cachework.Period, source: str, verbose: bool = False) -> str:
        ran.append(period.label)
        return source

    assert dated("s") == dated("s", verbose=True) == "s"
    assert ran == [False, today]
    assert dated.key("s", verbose=True) == dated.key("s") != dated.key("t")
    (call,) = dated.store.calls("dated")
    assert call.args == {"_period": today, "source": "s"}


# -- refresh ------------------------------------------------------------------------------------
def test_refresh_runs_again_and_replaces_the_entry(url, caplog):
    c = Counter()

    @cachework.work(name="ingest", store=url)
    def ingest(day: str) -> int:
        c.n += 1
        return c.n

    assert ingest("d") == 1
    assert ingest("d") == 1  # a hit
    with caplog.at_level(logging.INFO, logger="cachework"):
        assert ingest.refresh("d") == 2  # runs although it would hit
    assert any("running ingest" in m and m.endswith(": refresh") for m in caplog.messages)
    assert ingest("d") == 2  # the entry was replaced
    assert ingest(day="d") == 2 and c.n == 2
    runs = ingest.store.history("ingest")
    assert [r.status for r in runs] == ["succeeded", "succeeded"]
    assert len(ingest.store.calls("ingest")) == 1
    assert ingest.refresh("new") == 3  # nothing to replace: it runs like a new call
    assert ingest("new") == 3


def test_refresh_of_a_work_class_replaces_its_state_too(url):
    class Model(cachework.Work):
        def __init__(self):
            super().__init__(name="model", store=url)
            self.version_seen = 0

        def run(self, data: str) -> str:
            self.version_seen += 1
            return f"{data}:{self.version_seen}"

    m = Model()
    assert m.run("a") == "a:1"
    assert m.refresh("a") == "a:2" and m.has_succeeded
    again = Model()
    assert again.run("a") == "a:2" and again.version_seen == 2


def test_a_failed_refresh_is_recorded_and_the_next_call_runs(url):
    fail = [False]
    c = Counter()

    @cachework.work(name="flaky", store=url)
    def flaky(x: int) -> int:
        c.n += 1
        if fail[0]:
            raise RuntimeError("source down")
        return c.n

    assert flaky(1) == 1
    fail[0] = True
    with pytest.raises(RuntimeError):
        flaky.refresh(1)
    assert flaky.has_failed
    fail[0] = False
    assert flaky(1) == 3  # the stored call was replaced by the failure: it runs again


def test_refresh_of_parallel_and_every_works(url):
    c = Counter()

    @cachework.work(name="bg", store=url, parallel=True, executor=cf.ThreadPoolExecutor(1))
    def bg(x: int) -> int:
        c.n += 1
        return c.n

    assert bg(1).result() == 1
    assert bg(1).result() == 1
    assert bg.refresh(1).result() == 2
    assert bg(1).result() == 2

    @cachework.work(name="per_day", store=url, every="day", tz="UTC")
    def per_day() -> int:
        c.n += 1
        return c.n

    first = per_day()
    assert per_day() == first
    assert per_day.refresh() == first + 1
    assert per_day() == first + 1


class Scaled(cachework.Work):
    """A module-level work, so that a process pool can receive it."""

    def run(self, x: int, verbose: bool = False) -> tuple[int, int]:
        import os

        return x * 2, os.getpid()


def test_ignore_and_refresh_travel_to_a_process_pool(sqlite_url):
    with cf.ProcessPoolExecutor(max_workers=1) as pool:
        w = Scaled(name="scaled", store=sqlite_url, parallel=True, executor=pool, ignore="verbose")
        first = w.run(1).result(60)
        assert first[0] == 2 and first[1] != __import__("os").getpid()
        assert w.run(1, verbose=True).result(60) == first  # a hit, answered here
        again = w.refresh(1, verbose=True).result(60)  # runs in the pool again
        assert again[0] == 2
        assert w.run(1).result(60) == again
    calls = w.store.calls("scaled")
    assert [c.args for c in calls] == [{"x": 1}]
    assert len(w.store.history("scaled")) == 2


_ENV_SCRIPT = """
import logging, sys, cachework
logging.basicConfig(level=logging.INFO, format="%(message)s")
url = sys.argv[1]
n = {"ingest": 0, "train": 0}

@cachework.work(name="ingest", store=url)
def ingest(day):
    n["ingest"] += 1
    return f"ingest {day} run {n['ingest']} of {sys.argv[2]}"

@cachework.work(name="train", store=url)
def train(day):
    n["train"] += 1
    return f"train {day} run {n['train']} of {sys.argv[2]}"

print(ingest("d")); print(ingest("d")); print(train("d"))
"""


def _session(url: str, label: str, refresh: str | None) -> tuple[list[str], str]:
    env = {"CACHEWORK_REFRESH": refresh} if refresh is not None else {}
    code = f"import sys; sys.argv[1:] = [{url!r}, {label!r}]\n{_ENV_SCRIPT}"
    proc = run_script(code, env={**env, "PYTHONHASHSEED": "0"})
    return proc.stdout.splitlines(), proc.stderr


def test_cachework_refresh_runs_every_call_of_the_named_works(url, monkeypatch):
    monkeypatch.delenv("CACHEWORK_REFRESH", raising=False)
    out, _ = _session(url, "a", None)
    assert out == ["ingest d run 1 of a", "ingest d run 1 of a", "train d run 1 of a"]
    # Named: every call of ingest runs and replaces the entry; train is served as usual.
    out, err = _session(url, "b", " ingest ,other")
    assert out == ["ingest d run 1 of b", "ingest d run 2 of b", "train d run 1 of a"]
    assert "running ingest" in err and ": refresh" in err
    out, _ = _session(url, "c", None)  # what b stored is what later calls get
    assert out == ["ingest d run 2 of b", "ingest d run 2 of b", "train d run 1 of a"]
    out, _ = _session(url, "d", "*")
    assert out == ["ingest d run 1 of d", "ingest d run 2 of d", "train d run 1 of d"]
    out, _ = _session(url, "e", "")  # empty: nothing is refreshed
    assert out == ["ingest d run 2 of d", "ingest d run 2 of d", "train d run 1 of d"]


_CONCURRENT = """
import os, sys, time, cachework
url, out, gate, mode = sys.argv[1:5]

def note(line):
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, (line + "\\n").encode())
    os.close(fd)

@cachework.work(name="slow", store=url)
def slow(x):
    note(f"start {mode}")
    while not os.path.exists(gate):
        time.sleep(0.01)
    note(f"end {mode}")
    return f"{mode} {os.getpid()}"

print(slow.refresh(1) if mode.startswith("refresh") else slow(1))
"""


def _start(url: str, out: Path, gate: Path, mode: str):
    import os
    import subprocess
    import sys

    code = f"import sys; sys.argv[1:] = {[url, str(out), str(gate), mode]!r}\n{_CONCURRENT}"
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )


def _wait_for(path: Path, text: str) -> None:
    deadline = time.monotonic() + 120
    while text not in (path.read_text() if path.exists() else ""):
        assert time.monotonic() < deadline, f"{text!r} never appeared in {path}"
        time.sleep(0.02)


def test_a_refresh_is_claimed_like_any_call(url, tmp_path):
    """While a refresh runs, a plain caller waits for its result and a second refresh
    waits its turn: one run of a call at a time, in real processes."""
    out, gate = tmp_path / "out.txt", tmp_path / "gate"
    gate.touch()
    first = _start(url, out, gate, "plain")
    assert first.communicate(timeout=120)[0].startswith("plain")
    gate.unlink()
    out.unlink()
    refresher = _start(url, out, gate, "refresh-a")
    _wait_for(out, "start refresh-a")  # it holds the claim now
    waiter = _start(url, out, gate, "plain")
    second = _start(url, out, gate, "refresh-b")
    gate.touch()
    got = {p.communicate(timeout=120)[0].split()[0] for p in (refresher, waiter, second)}
    lines = out.read_text().splitlines()
    # One run at a time: the second refresh started only after the first ended, and the
    # plain caller never ran (it was served a refreshed result, not the old one).
    assert lines == ["start refresh-a", "end refresh-a", "start refresh-b", "end refresh-b"]
    assert got == {"refresh-a", "refresh-b"}


# -- register_encoder ---------------------------------------------------------------------------
class Model:
    """A type the encoder refuses on its own: its lock is state that lives outside the value."""

    def __init__(self, weights):
        self.weights = weights
        self.lock = threading.Lock()


class Tuned(Model):
    pass


class Other:
    def __init__(self, weights):
        self.weights = weights
        self.lock = threading.Lock()


def test_a_registered_type_keys_by_what_its_function_returns():
    with pytest.raises(UnhashableArgument, match="lock"):
        k(Model([1, 2]))
    register_encoder(Model, lambda m: tuple(m.weights))
    assert k(Model([1, 2])) == k(Model([1, 2]))
    assert k(Model([1, 2])) != k(Model([2, 1]))
    assert k(Model([1, 2])) != k((1, 2))  # the class joins the key
    assert k([Model([1]), {"m": Model([2])}]) == k([Model([1]), {"m": Model([2])}])


def test_two_types_with_the_same_function_output_key_apart():
    register_encoder(Model, lambda m: m.weights)
    register_encoder(Other, lambda m: m.weights)
    assert k(Model([1])) != k(Other([1]))
    assert keys.TAGS["registered encoder"] == b"r" == keys.encode(Model([1]))[:1]


def test_subclasses_use_the_nearest_registration():
    register_encoder(Model, lambda m: m.weights)
    assert k(Tuned([1])) == k(Tuned([1]))
    assert k(Tuned([1])) != k(Model([1]))  # the value's own class joins the key
    register_encoder(Tuned, lambda m: "tuned")  # nearer in Tuned's MRO: it wins there
    assert k(Tuned([1])) == k(Tuned([2]))
    assert k(Model([1])) != k(Model([2]))

    class Hooked(Model):
        def __cachework_key__(self):
            return "hooked"

    assert k(Hooked([1])) == k(Hooked([2]))  # its own hook is nearer than Model's registration


def test_registering_again_replaces():
    register_encoder(Model, lambda m: m.weights)
    before = k(Model([1]))
    register_encoder(Model, lambda m: m.weights[0] * 2)
    assert k(Model([1])) != before
    assert k(Model([1])) == k(Model([1]))
    register_encoder(Model, lambda m: m.weights)
    assert k(Model([1])) == before


def test_a_failing_function_is_an_unhashable_argument_naming_the_argument():
    def broken(m):
        raise KeyError("no weights")

    register_encoder(Model, broken)
    with pytest.raises(UnhashableArgument) as e:
        key_for({"model": [1, {"m": Model([1])}]})
    message = str(e.value)
    assert "argument 'model' at [1]['m']" in message
    assert "encoder registered for" in message and "Model" in message and "no weights" in message
    assert isinstance(e.value.__cause__, KeyError)

    register_encoder(Model, lambda m: [threading.Lock()])  # returns what cannot be encoded
    with pytest.raises(UnhashableArgument, match=r"argument 'model' at <Model encoder>\[0\]"):
        key_for({"model": Model([1])})

    register_encoder(Model, lambda m: Tuned(m.weights))  # would encode itself forever
    with pytest.raises(
        UnhashableArgument,
        match="^argument 'model': .*returned a .*Tuned, which it would encode again",
    ):
        key_for({"model": Model([1])})


@pytest.mark.parametrize(
    "tp", [str, int, float, bool, type(None), bytes, list, tuple, dict, set, frozenset, object]
)
def test_the_native_fast_path_types_cannot_be_registered(tp):
    with pytest.raises(TypeError, match="cannot be registered"):
        register_encoder(tp, repr)


def test_bad_registrations_are_refused():
    with pytest.raises(TypeError, match="must be a class"):
        register_encoder(Model([1]), repr)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        register_encoder(Model, "weights")  # type: ignore[arg-type]


def test_a_registration_wins_over_the_native_encoding_of_other_types():
    class Settings(dict):  # natively: a dict subclass, keyed by its class and items
        pass

    a, b = Settings(lr=0.1, log_dir="/tmp/a"), Settings(lr=0.1, log_dir="/tmp/b")
    assert k(a) != k(b)
    register_encoder(Settings, lambda s: {n: v for n, v in s.items() if n != "log_dir"})
    assert k(a) == k(b) != k(Settings(lr=0.2))
    assert k(a) != k({"lr": 0.1})

    day = dt.date(2026, 1, 1)
    before = k(day)
    register_encoder(dt.date, lambda d: d.isoformat())  # a stdlib value type
    assert k(day) != before and k(day) != k("2026-01-01")
    assert k(dt.datetime(2026, 1, 1)) != k(day)  # datetime is a date: the class still joins
    assert k(np.arange(3)) == k(np.arange(3))  # unregistered types as before


def test_register_encoder_is_public():
    assert "register_encoder" in cachework.__all__
    assert cachework.register_encoder is register_encoder
    assert register_encoder.__module__ == "cachework"


def test_a_work_hits_with_registered_arguments(url):
    register_encoder(Model, lambda m: tuple(m.weights))
    c = Counter()

    @cachework.work(name="score", store=url)
    def score(model: Model, x: int) -> int:
        c.n += 1
        return sum(model.weights) * x

    assert score(Model([1, 2]), 2) == 6
    assert score(Model([1, 2]), 2) == 6
    assert c.n == 1
    assert score(Model([1, 3]), 2) == 8 and c.n == 2
    calls = score.store.calls("score")
    assert sorted(call.args["x"] for call in calls) == [2, 2]
    assert all(isinstance(call.args["model"], str) for call in calls)  # short text, as before


# Keys computed on main before register_encoder existed (commit 65bd2c8): the keys of values
# of types nobody registered must never change, or every existing store would miss.
VALUES = {
    "none": None, "true": True, "false": False, "int": 1, "bigint": 2**100, "negint": -7,
    "float": 1.0, "negzero": -0.0, "nan": math.nan, "inf": math.inf, "str": "1", "unicode": "día ☃",
    "bytes": b"\x00\xff", "tuple": (1, "a", None), "list": [1, [2, [3]]], "dict": {"b": 1, "a": [1.5, None]},
    "set": {1, "1", 1.5}, "frozenset": frozenset({(1, 2), b"x"}), "empty": ((), [], {}, set(), frozenset()),
    "complex": 1 + 2j, "bytearray": bytearray(b"ab"), "memoryview": memoryview(b"abcd").cast("H"),
    "date": dt.date(2026, 11, 25), "datetime": dt.datetime(2026, 11, 25, 1, 2, 3, 4),
    "datetime_utc": dt.datetime(2026, 11, 25, tzinfo=dt.timezone.utc),
    "datetime_paris": dt.datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
    "time": dt.time(1, 2, 3), "timedelta": dt.timedelta(days=1, seconds=2, microseconds=3),
    "decimal": decimal.Decimal("1.10"), "fraction": fractions.Fraction(1, 3),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"), "path": pathlib.PurePosixPath("/a/b"),
    "enum": http.HTTPStatus.OK, "ordereddict": collections.OrderedDict([("b", 1), ("a", 2)]),
    "defaultdict": collections.defaultdict(list, {"a": [1]}), "deque": collections.deque([1, 2], maxlen=5),
    "counter": collections.Counter("abca"), "pattern": re.compile("a+", re.I),
    "partial": functools.partial(int, base=2), "array": array.array("i", [1, 2, 3]),
    "ellipsis": ..., "namespace": types.SimpleNamespace(a=1, b=[2]), "function": json.dumps,
    "class": collections.OrderedDict, "ipv4": ipaddress.IPv4Address("10.0.0.1"), "logger": logging.getLogger("x"),
    "ndarray": np.arange(6, dtype=np.int64).reshape(2, 3), "float32": np.array([1.5, -0.0], dtype=np.float32),
    "npint": np.int64(1), "npobj": np.array([1, "a", None], dtype=object),
}  # fmt: skip
KNOWN = {
    "none": "2cfc3ec606f707cb169deb449bb7c348",
    "true": "b1e097c8260ab39937396c609cabf069",
    "false": "e5a32d69b3c55c7f16c3ce37f2a3f22f",
    "int": "dd63f6a0694ab42622722601969863be",
    "bigint": "9af6b3ef4f496651ceb793fc4e340bee",
    "negint": "8b534265b107983ec2723ec64f888f53",
    "float": "c75fede3bc859312392ddb45d19b9564",
    "negzero": "012f36ed219da1d9bb44543b6f859807",
    "nan": "4835a0e096a9364516868f186d369189",
    "inf": "45ac65cf1e3e1ab4b6c81b9fa7c6ccff",
    "str": "8666eb4aa9fbb0788cf47525a0e8f0f5",
    "unicode": "cb3528b2202444d5f4cc07d80a271784",
    "bytes": "a6a7135b63e02ac76eedbe310fea7c43",
    "tuple": "4c9d7a24c19d5bb762bce728401af27a",
    "list": "5b73d3797e4d5cbbbb0d0ad3645aec2d",
    "dict": "8fc0a57e889fcf57868022fa44eb0994",
    "set": "f57672dddf7797270f1de9ee0e02fd3d",
    "frozenset": "af053c7bddfbf48181e33f33335b6d9e",
    "empty": "e74206567d6d582bd4111ef60f9ff1f8",
    "complex": "d4712d9f6ff0ea4b440c4e75e59d6455",
    "bytearray": "d71e60288d839397ba209f56681e545b",
    "memoryview": "d262382a5ff77f78f7fbf8ff433294f3",
    "date": "08ae8c5fc31b797d86e08aa46937f114",
    "datetime": "abcf57a47d57378b0a15647c250c62f2",
    "datetime_utc": "45cb9661e9dec72c1d8a83aca74f8988",
    "datetime_paris": "1e5739d8522bd712aab33f2db5956e5a",
    "time": "fee884f9037839aecde9fa24e49d46ce",
    "timedelta": "8e8c87c7f0321b2203542a7c4830cbb6",
    "decimal": "1b96369b2925f7be908601a3336f8d74",
    "fraction": "e417ff0a3633ad57ced69fa19ce66162",
    "uuid": "57b2a3345ac26434bda05cc682d55459",
    "path": "8faf6cf67dc9fbea189956ce429dd9e9",
    "enum": "ceda1b6c7038bc66080f8824cfc82026",
    "ordereddict": "6ba2a99b1be8b33958602fb680c7b4b2",
    "defaultdict": "f2760760b244b933ef348ad81fb55eb9",
    "deque": "6e606fea5afce58505f9dac52742dc88",
    "counter": "6ba079243e80ffcecba8a728643d0907",
    "pattern": "efce18a4dfd30e2d186d4a7fd1bdbb7a",
    "partial": "9533a8260ca07398dce62e73c678854a",
    "array": "f305f5b5e399842a4323a7587ba0cf0a",
    "ellipsis": "5e2d9ddf3682c0d9767ccb8a19832f69",
    "namespace": "825fd071630c3bcf3c924dd1352ee215",
    "function": "b9860cde430c7a6cd753a75738d46aa4",
    "class": "d8a92103fcd6b8712914eda69111a0a2",
    "ipv4": "35f752ab01aa04b1bdc92381b0e8006c",
    "logger": "7f435245e49e8f0b63c87adcc73d17ab",
    "ndarray": "e2200f219a9da85ebc8f68df1253a2a7",
    "float32": "884234c34d9c09203048a108d887e2d8",
    "npint": "1dd7b4ea41968c22c8e465e10162c8ee",
    "npobj": "4ab2f073a1efda5d4be88d25b57b55d4",
}


def test_keys_of_unregistered_types_are_those_of_existing_stores():
    assert {name: k(v) for name, v in VALUES.items()} == KNOWN
    assert key_for({"a": 1, "b": [1, 2]}, version=3) == "bba2b794b3b33219fbd808f0df0d4e70"
    register_encoder(Model, lambda m: m.weights)  # a registration elsewhere changes none
    register_encoder(Tuned, lambda m: m.weights)
    assert {name: k(v) for name, v in VALUES.items()} == KNOWN


# -- the registrations docs/keys.md shows ---------------------------------------------------------
DOCS = Path(__file__).resolve().parents[1] / "docs" / "keys.md"


def _docs_example(module: str) -> dict:
    """Run the example of docs/keys.md that imports ``module`` (skipped where it is not
    installed) and return its namespace."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    (code,) = [b for b in blocks if re.search(rf"^import {module}\b", b, re.M)]
    pytest.importorskip(module)
    namespace: dict = {}
    exec(compile(code, f"docs/keys.md ({module})", "exec"), namespace)
    return namespace


def test_the_docs_model_example():
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    namespace: dict = {}
    exec(blocks[0], namespace)
    model = namespace["Model"]
    assert k(model([1, 2], threading.Lock())) == k(model([1, 2], threading.Lock()))
    assert k(model([1, 2], None)) != k(model([2, 1], None))


def test_the_docs_polars_example():
    _docs_example("polars")
    import polars as pl

    a = pl.DataFrame({"x": [1, None, 3], "y": ["a", None, "c" * 30]})
    chunked = pl.concat([a[:1], a[1:]], rechunk=False)
    assert k(a) == k(chunked) == k(a.clone())
    assert k(a) != k(a.with_columns(pl.col("x").cast(pl.Int32)))
    assert k(a) != k(a.rename({"x": "w"})) != k(a.reverse())
    assert k(a["x"]) == k(chunked["x"]) != k(a["y"])
    assert k(a["x"]) != k(a)


def test_the_docs_pyarrow_example():
    _docs_example("pyarrow")
    import pyarrow as pa

    t = pa.table({"x": [1, None, 3], "y": ["a", None, "c"]})
    chunked = pa.concat_tables([t.slice(0, 1), t.slice(1)])
    assert k(t) == k(chunked)
    assert k(t) != k(t.cast(pa.schema([("x", pa.int32()), ("y", pa.string())])))
    assert k(t) != k(t.rename_columns(["w", "y"]))
    assert k(t.to_batches()[0]) == k(t.to_batches()[0]) != k(t)
    assert k(t["x"]) == k(chunked["x"]) != k(t["y"])
    assert k(pa.array([1, 2])) == k(pa.array([1, 2])) != k(pa.array([1.0, 2.0]))


def test_the_docs_torch_example():
    _docs_example("torch")
    import torch

    a = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    assert k(a) == k(a.clone()) == k(a.t().contiguous().t())
    assert k(a) != k(a.double()) != k(a.reshape(3, 2))
    assert k(a) != k(torch.nn.Parameter(a.clone()))
    assert k(a) != k(a.clone().requires_grad_())

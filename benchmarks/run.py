"""cachework against its peers, in one process, in interleaved rounds.

    pip install -e '.[bench]'
    python benchmarks/run.py                      # every workload
    python benchmarks/run.py --only hit,miss      # some
    python benchmarks/run.py --postgres postgresql+psycopg://postgres@127.0.0.1/test

Each workload runs every peer once per round, rounds interleaved, so a noisy neighbour
slows all peers alike; the table gives the median over rounds of each peer's per-call
time, the p99 of single calls, and the ratio to cachework.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import pickle
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import xxhash

import cachework

Peer = Callable[[int], None]  # runs n calls; the harness times it


def _table(
    title: str, results: dict[str, list[float]], singles: dict[str, list[float]], base: str
) -> None:
    print(f"\n## {title}\n")
    print("| peer | median µs/call | p99 µs | × cachework |")
    print("|---|---:|---:|---:|")
    ref = statistics.median(results[base])
    for name, rounds in results.items():
        med = statistics.median(rounds)
        single = sorted(singles.get(name) or [med])
        p99 = single[min(len(single) - 1, int(len(single) * 0.99))]
        print(f"| {name} | {med:,.2f} | {p99:,.1f} | {med / ref:,.2f} |")


#: A peer slower than this per round (cachier's pickle core on a miss: ~90 ms a call) runs
#: fewer calls in later rounds and fewer single calls: per-call figures stay comparable and
#: a run takes minutes, not most of an hour.
ROUND_BUDGET_S = 2.0


def _interleave(
    peers: dict[str, Callable[[int], None]], rounds: int, n: int
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {name: [] for name in peers}
    calls = dict.fromkeys(peers, n)
    for _ in range(rounds):
        order = list(peers)
        random.shuffle(order)
        for name in order:
            k = calls[name]
            t0 = time.perf_counter()
            peers[name](k)
            took = time.perf_counter() - t0
            out[name].append(took / k * 1e6)
            if took > ROUND_BUDGET_S:
                calls[name] = max(1, int(k * ROUND_BUDGET_S / took))
    return out


def _singles(peers: dict[str, Callable[[int], None]], n: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for name, run in peers.items():
        times: list[float] = []
        start = time.perf_counter()
        for _ in range(n):
            t0 = time.perf_counter_ns()
            run(1)
            times.append((time.perf_counter_ns() - t0) / 1e3)
            if len(times) >= 20 and time.perf_counter() - start > ROUND_BUDGET_S:
                break
        out[name] = times
    return out


def _raw_sqlite(
    folder: Path, name: str = "raw.db"
) -> tuple[sqlite3.Connection, Callable[..., Any]]:
    conn = sqlite3.connect(folder / name, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS c (k TEXT PRIMARY KEY, v BLOB)")
    return conn, conn.execute


def _peers_for(
    folder: Path, fn: Callable[[str, int], dict], url: str | None
) -> dict[str, Callable]:
    """The same function cached by each peer."""
    import diskcache
    import joblib
    from cachier import cachier

    peers: dict[str, Callable] = {}
    store = url or f"sqlite:///{folder / 'cw.db'}"
    peers["cachework"] = cachework.work(name="bench", store=store)(fn)
    if url is None:
        dc = diskcache.Cache(str(folder / "dc"))
        peers["diskcache"] = dc.memoize()(fn)
        peers["joblib"] = joblib.Memory(str(folder / "jl"), verbose=0).cache(fn)
        peers["cachier-pickle"] = cachier(cache_dir=str(folder / "cp"))(fn)
        try:
            peers["cachier-sql"] = cachier(
                backend="sql", sql_engine=f"sqlite:///{folder / 'cs.db'}"
            )(fn)
        except Exception as e:  # an older cachier without the SQL core
            print(f"(cachier SQL core unavailable: {e})", file=sys.stderr)
        peers["lru_cache"] = functools.lru_cache(maxsize=None)(fn)
        conn, execute = _raw_sqlite(folder)

        def raw(day: str, n: int) -> dict:
            key = f"{day}|{n}"
            row = execute("SELECT v FROM c WHERE k = ?", (key,)).fetchone()
            if row is not None:
                return pickle.loads(row[0])
            value = fn(day, n)
            execute("INSERT OR REPLACE INTO c VALUES (?, ?)", (key, pickle.dumps(value)))
            return value

        peers["raw sqlite3"] = raw
    return peers


def small(day: str, n: int) -> dict:
    return {"day": day, "n": n, "rows": n * 3}


def bench_hit(folder: Path, rounds: int, n: int, url: str | None) -> None:
    peers = _peers_for(folder, small, url)
    for f in peers.values():
        f("2022-05-25", 7)
    loops = {
        name: (lambda k, f=f: [f("2022-05-25", 7) for _ in range(k)]) for name, f in peers.items()
    }
    where = "PostgreSQL" if url else "SQLite"
    _table(
        f"HIT ({where}): f(day, n) -> small dict, cached args",
        _interleave(loops, rounds, n),
        _singles(loops, 2000),
        "cachework",
    )


#: Distinct stored keys a pipeline's hits cycle through: more than the key memo holds
#: (``_keys.KEY_MEMO_SIZE``), so each hit encodes, hashes, reads and loads.
DISTINCT_KEYS = 2000
DAYS = [f"2026-{1 + i // 28 % 12:02d}-{1 + i % 28:02d}" for i in range(DISTINCT_KEYS)]


def bench_distinct(folder: Path, rounds: int, n: int) -> None:
    """A hit on distinct keys, as a pipeline hits: 2,000 stored keys, each once per cycle.

    The floor is what no cache can beat on SQLite: a ``SELECT`` of one blob by primary key
    on a connection kept open, then ``pickle.loads``.
    """
    import diskcache

    cw = cachework.work(name="distinct", store=str(folder / "distinct.db"))(small)
    dc = diskcache.Cache(str(folder / "distinct-dc")).memoize()(small)
    conn, execute = _raw_sqlite(folder, "distinct-raw.db")
    for i, day in enumerate(DAYS):
        execute(
            "INSERT OR REPLACE INTO c VALUES (?, ?)", (f"{day}|{i}", pickle.dumps(small(day, i)))
        )
    for f in (cw, dc):
        for i, day in enumerate(DAYS):
            f(day, i)

    def floor(day: str, n: int) -> dict:
        row = execute("SELECT v FROM c WHERE k = ?", (f"{day}|{n}",)).fetchone()
        return pickle.loads(row[0])  # type: ignore[no-any-return]

    def cycle(f: Callable) -> Callable[[int], None]:
        at = iter(range(10**12))

        def calls(k: int) -> None:
            for _ in range(k):
                i = next(at) % DISTINCT_KEYS
                f(DAYS[i], i)

        return calls

    loops = {"cachework": cycle(cw), "diskcache": cycle(dc), "raw sqlite3 floor": cycle(floor)}
    _table(
        f"HIT on distinct keys (SQLite): {DISTINCT_KEYS:,} stored keys cycled",
        _interleave(loops, rounds, n),
        _singles(loops, 2000),
        "cachework",
    )


def bench_keys(folder: Path, rounds: int, n: int) -> None:
    """µs to key one call with common small arguments: ``key_for`` of the bound arguments,
    and ``work.key`` (binding, then the key) as a call computes it."""
    from cachework import _keys as keys

    def five(row: dict) -> None: ...
    def pair(day: str, n: int) -> None: ...
    def ten(xs: list) -> None: ...

    shapes = {
        "a str and an int": (pair, ("2026-11-25", 3)),
        "a dict of 5 str/int/float": (five, ({"a": "x", "b": 2, "c": 3.5, "d": "yy", "e": 7},)),
        "a 10-element list": (ten, (list(range(10)),)),
    }
    loops: dict[str, Callable[[int], None]] = {}
    for shape, (fn, args) in shapes.items():
        w = cachework.work(name=f"keys.{fn.__name__}", store=str(folder / "keys.db"))(fn)
        bound = w._cw_binder(args, {})
        loops[f"key_for, {shape}"] = lambda k, b=bound: [keys.key_for(b) for _ in range(k)]
        loops[f"work.key, {shape}"] = lambda k, w=w, a=args: [w.key(*a) for _ in range(k)]
    results = _interleave(loops, rounds, n)
    print("\n## KEY: µs per key of a call with common small arguments\n")
    print("| what | median µs |")
    print("|---|---:|")
    for name, us in results.items():
        print(f"| {name} | {statistics.median(us):.2f} |")


def bench_pg_hit(rounds: int, n: int, url: str) -> None:
    """A PostgreSQL hit against its floor on the same connection: a prepared ``SELECT`` of
    the one stored result by primary key, then ``pickle.loads``."""
    f = cachework.work(name="pghit", store=url)(small)
    f("2022-05-25", 7)
    key = f.key("2022-05-25", 7)
    backend = f.store._ensure()
    conn = backend._lend(lambda c: c)  # one of the store's own connections, kept for the floor
    text = "SELECT result FROM cachework_calls WHERE work = %s AND key = %s"

    def floor(k: int) -> None:
        for _ in range(k):
            row = conn.execute(text, ("pghit", key), prepare=True).fetchone()
            pickle.loads(row[0])

    loops = {
        "cachework": lambda k: [f("2022-05-25", 7) for _ in range(k)],
        "prepared psycopg SELECT": floor,
    }
    _table(
        "HIT (PostgreSQL) against a prepared SELECT of one row",
        _interleave(loops, rounds, n),
        _singles(loops, 500),
        "cachework",
    )
    conn.close()


def bench_miss(folder: Path, rounds: int, n: int, url: str | None) -> None:
    peers = _peers_for(folder, small, url)
    peers.pop("lru_cache", None)
    counters = {name: iter(range(10**9)) for name in peers}
    run_id = os.urandom(4).hex()  # a rerun against the same database must still miss

    def loop(name: str, f: Callable) -> Callable[[int], None]:
        it = counters[name]
        return lambda k: [f(f"{run_id}-{next(it)}", 1) for _ in range(k)]

    loops = {name: loop(name, f) for name, f in peers.items()}
    if url is None:
        loops["cachework SQL alone"] = _sql_alone(folder, small, run_id)
    where = "PostgreSQL" if url else "SQLite"
    _table(
        f"MISS ({where}): distinct args, result persisted",
        _interleave(loops, rounds, n),
        _singles(loops, 300),
        "cachework",
    )


def _sql_alone(folder: Path, fn: Callable[[str, int], dict], run_id: str) -> Peer:
    """The floor of a cachework miss: its own statements and two commits, no Python around.

    The same key, lookup, claim (history row + entry), pickle and finish as ``@work`` runs,
    through sqlite3 with the store's settings: what a miss costs before any of our code.
    """
    from cachework import _backends, _sql
    from cachework import _keys as keys

    db = folder / "floor.db"
    cachework.work(name="floor", store=str(db))(fn)("warm", 0)  # the migrated schema
    conn = sqlite3.connect(db, isolation_level=None)
    for pragma, value in _backends.DEFAULT_SETTINGS.items():
        conn.execute(f"PRAGMA {pragma}={value}")
    sql = _sql.compile_all(_sql.sqlite_dialect())
    counter = iter(range(10**9))

    def execute(cur: sqlite3.Cursor, name: str, params: dict) -> None:
        text, fixed, values = sql[name]  # bound as the store binds it: by position
        cur.execute(text, values({**fixed, **params}))

    def once() -> None:
        bound = {"day": f"{run_id}-{next(counter)}", "n": 1}
        key = keys.key_for(bound)
        conn.execute(_backends.SQLITE_LOOKUP, ("floor", key)).fetchone()
        call = {"work": "floor", "key": key, "args": keys.args_json(bound), "cached": True}
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        now = _backends.utc_text()
        started = {"now": now, "host": "h", "pid": 1, "reason": None, "args_key": key}
        execute(cur, "run_insert", {**call, **started})
        owner = {"owner": "h:1", "owner_start": "0", "lease_s": 60.0, "key_scheme": 1}
        run = cur.lastrowid
        execute(cur, "call_insert", {**call, **owner, "now": now, "run_id": run})
        cur.execute("COMMIT")
        result = pickle.dumps(fn(**bound), protocol=5)
        cur.execute("BEGIN IMMEDIATE")
        now = _backends.utc_text()
        done = {"run_id": run, "status": "succeeded", "now": now}
        execute(
            cur,
            "call_finish",
            {**call, **done, "result": result, "state": None, "expires_at": None},
        )
        execute(
            cur,
            "run_finish",
            {**done, "duration_s": 0.0, "error_type": None, "error": None, "traceback": None},
        )
        cur.execute("COMMIT")

    return lambda k: [once() for _ in range(k)]


def bench_scale(folder: Path, rounds: int, n: int, rows: int) -> None:
    """A hit with 1,000 entries and with ``rows`` entries in the table."""
    results: dict[str, list[float]] = {}
    fns = {}
    for size in (1000, rows):
        db = folder / f"scale{size}.db"
        f = cachework.work(name="scale", store=str(db))(small)
        f("warm", 0)
        conn = sqlite3.connect(db, isolation_level=None)
        row = conn.execute("SELECT * FROM cachework_calls").fetchone()
        conn.execute("BEGIN")
        batch = []
        for i in range(size):
            key = f"{i:032x}"
            batch.append(("scale", key, *row[2:]))
            if len(batch) == 50_000:
                conn.executemany(
                    f"INSERT OR IGNORE INTO cachework_calls VALUES ({','.join('?' * len(row))})",
                    batch,
                )
                batch.clear()
        conn.executemany(
            f"INSERT OR IGNORE INTO cachework_calls VALUES ({','.join('?' * len(row))})", batch
        )
        conn.execute("COMMIT")
        conn.close()
        fns[f"{size:,} entries"] = f
    loops = {name: (lambda k, f=f: [f("warm", 0) for _ in range(k)]) for name, f in fns.items()}
    results = _interleave(loops, rounds, n)
    _table("SCALE: a hit as the table grows", results, _singles(loops, 2000), "1,000 entries")


def bench_large(folder: Path, rounds: int) -> None:
    import numpy as np

    array = np.random.default_rng(0).random(50 * 2**20 // 8)  # 50 MB of float64
    f = cachework.work(name="large", store=str(folder / "large.db"))(lambda a: float(a[0]))
    f(array)
    loops = {
        "cachework hit": lambda k: [f(array) for _ in range(k)],
        "xxh3_128 over the buffer": lambda k: [xxhash.xxh3_128_hexdigest(array) for _ in range(k)],
    }
    try:
        import joblib

        loops["joblib.hash"] = lambda k: [joblib.hash(array) for _ in range(k)]
    except ImportError:
        pass
    _table(
        "LARGE: a hit whose argument is a 50 MB float64 array",
        _interleave(loops, rounds, 3),
        {},
        "cachework hit",
    )


COLD_CW = """
import cachework
@cachework.work(name="cold", store={db!r})
def f(day, n):
    return {{"day": day}}
f("2022-05-25", 1)
"""
COLD_DC = """
import diskcache
c = diskcache.Cache({d!r})
@c.memoize()
def f(day, n):
    return {{"day": day}}
f("2022-05-25", 1)
"""


def bench_cold(folder: Path, rounds: int) -> None:
    """Paired runs: each round starts one cachework and one diskcache process (alternating
    which goes first); the ratio is the median of the rounds' ratios."""
    cw = COLD_CW.format(db=str(folder / "cold.db"))
    dc = COLD_DC.format(d=str(folder / "colddc"))
    # Both peers import compiled bytecode, as an installed package does: a process started
    # with PYTHONDONTWRITEBYTECODE would compile cachework's source on every start (~50 ms
    # here) while diskcache's site-packages copy comes with its .pyc files.
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(folder / "pycache")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for code in (cw, dc, "pass"):  # create and fill the stores; compile both once
        subprocess.run([sys.executable, "-c", code], check=True, env=env)

    def once(code: str) -> float:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
        return (time.perf_counter() - t0) * 1000

    times: dict[str, list[float]] = {"cachework": [], "diskcache": [], "python -c pass": []}
    ratios = []
    for r in range(rounds):
        pair = [("cachework", cw), ("diskcache", dc)]
        for name, code in pair if r % 2 == 0 else pair[::-1]:
            times[name].append(once(code))
        times["python -c pass"].append(once("pass"))
        ratios.append(times["cachework"][-1] / times["diskcache"][-1])
    print(f"\n## COLD: a new process imports, opens the store and hits once ({rounds} pairs)\n")
    print("| peer | median ms | min ms |")
    print("|---|---:|---:|")
    for name, ms in times.items():
        print(f"| {name} | {statistics.median(ms):.1f} | {min(ms):.1f} |")
    print(f"\ncachework ÷ diskcache, median of the pairs' ratios: {statistics.median(ratios):.3f}")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            cw
            + "\nimport sys\nprint(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy','alembic','rich','cloudpickle','numpy','logging','traceback')))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    print(f"\nheavy modules imported by a cold hit: {proc.stdout.strip()}")


def step(day: str, n: int) -> dict:
    """A pipeline step that waits 1 ms on I/O: what a real unit of work looks like to a cache."""
    time.sleep(0.001)
    return small(day, n)


def _cached(peer: str, where: str, fn: Callable) -> Callable:
    if peer == "diskcache":
        import diskcache

        return diskcache.Cache(where).memoize()(fn)  # type: ignore[no-any-return]
    return cachework.work(name="throughput", store=f"sqlite:///{where}")(fn)


def _claimer(peer: str, where: str, fn: Callable, tag: str, count: int, ready, start, done):
    f = _cached(peer, where, fn)
    f(f"{tag}-warm", 0)  # the first miss imports SQLAlchemy to build its statements: not timed
    ready.put(None)
    start.wait()
    t0 = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes
    for i in range(count):
        f(f"{tag}-{i}", 1)
    done.put((t0, time.perf_counter()))


def _writers(peer: str, where: str, fn: Callable, procs: int, count: int):
    """Start ``procs`` warmed-up callers together; yield once they run, then the time span.

    Start-up (spawn, imports, the first miss) and exit are outside the timed span: only
    from the first worker's first call to the last worker's last call counts.
    """
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    ready, start, done = ctx.Queue(), ctx.Event(), ctx.Queue()
    ps = [
        ctx.Process(target=_claimer, args=(peer, where, fn, f"p{p}", count, ready, start, done))
        for p in range(procs)
    ]
    for p in ps:
        p.start()
    for _ in ps:
        ready.get()
    start.set()
    yield None
    spans = [done.get() for _ in ps]
    for p in ps:
        p.join()
    yield max(t1 for _, t1 in spans) - min(t0 for t0, _ in spans)


def bench_concurrent(folder: Path, n: int, rounds: int = 3) -> None:
    """Calls per second on distinct keys (each a miss: a claim and a finish) by N processes.

    Each (case, count, round) gets a new store, so every count starts from the same size
    and WAL. The 1 ms step makes fewer calls (it is bound by its own sleep, not the store).
    """
    cases = {
        "cachework": ("cachework", small, n),
        "diskcache": ("diskcache", small, n),
        "cachework, 1 ms step": ("cachework", step, max(100, n // 10)),
    }
    counts = (1, 2, 4, 8)
    rates = {(case, c): [] for case in cases for c in counts}
    for r in range(rounds):
        for case, (peer, fn, calls) in cases.items():
            for procs in counts:
                where = str(folder / f"conc-{peer}-{fn.__name__}-{r}-{procs}")
                if peer == "cachework":
                    where += ".db"
                    _cached(peer, where, fn)("warm", 0)  # migrated before the race
                run = _writers(peer, where, fn, procs, calls)
                next(run)
                rates[case, procs].append(procs * calls / next(run))
    print("\n## CONCURRENT: calls per second on distinct keys, each a miss (SQLite)\n")
    print(
        f"median of {rounds} interleaved rounds; a new store for each run; in brackets: × 1 process\n"
    )
    print("| processes | " + " | ".join(cases) + " |")
    print("|---:|" + "---:|" * len(cases))
    for procs in counts:
        cells = []
        for case in cases:
            rate = statistics.median(rates[case, procs])
            cells.append(f"{rate:,.0f} ({rate / statistics.median(rates[case, 1]):.2f}×)")
        print(f"| {procs} | " + " | ".join(cells) + " |")
    for case in cases:
        spread = ", ".join(
            f"{c}: {min(rates[case, c]):,.0f}–{max(rates[case, c]):,.0f}" for c in counts
        )
        print(f"\nrange over rounds, {case}: {spread}")
    # p50/p99 of a hit while 4 writers run
    where = str(folder / "conc-hit.db")
    f = _cached("cachework", where, small)
    f("hot", 1)
    writers = _writers("cachework", where, small, 4, 3000)
    next(writers)
    times = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        t0 = time.perf_counter_ns()
        f("hot", 1)
        times.append((time.perf_counter_ns() - t0) / 1e3)
    next(writers)
    times.sort()
    print(
        f"\nhit under 4 writer processes: p50 {times[len(times) // 2]:.1f} µs, "
        f"p99 {times[int(len(times) * 0.99)]:.1f} µs, max {times[-1] / 1000:.1f} ms ({len(times):,} hits)"
    )


@contextlib.contextmanager
def _pg_schema(base: str):
    """A fresh schema for the run, dropped afterwards: the figures never hit old entries."""
    import sqlalchemy as sa

    schema = f"cw_bench_{os.getpid()}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        sep = "&" if "?" in base else "?"
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        for store in list(cachework._store._registry.values()):
            store.close()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def bench_waiting(folder: Path) -> None:
    """CPU a caller spends while it waits for another process's run of the same call."""
    url = f"sqlite:///{folder / 'wait.db'}"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import time, cachework\n"
                f"@cachework.work(name='wait', store={url!r})\n"
                "def f(x):\n    time.sleep(6)\n    return x\n"
                "f(1)\n"
            ),
        ]
    )
    time.sleep(1.5)
    f = cachework.work(name="wait", store=url)(lambda x: x)
    t0, c0 = time.perf_counter(), time.process_time()
    f(1)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    holder.wait()
    print(
        f"\n## WAITING\n\na caller waited {wall:.1f} s for another process's run using "
        f"{cpu * 1000:.0f} ms of CPU: {cpu / wall * 100:.2f}% of a core"
    )


def bench_event_loop(folder: Path, turns: int) -> None:
    """The seed's loop: two works, one with every="day", all hits. Does a turn slow down?"""

    class DataProcessor(cachework.Work):
        def run(self) -> None:
            self.data = "/data/today.parquet"

    class TrainModel(cachework.Work):
        def run(self, data: str) -> str:
            return data + ".model"

    url = str(folder / "loop.db")
    dp = DataProcessor(name="loop.dp", store=url, every="day")
    tm = TrainModel(name="loop.tm", store=url)
    chunk = turns // 10
    times = []
    for _ in range(10):
        t0 = time.perf_counter()
        for _ in range(chunk):
            dp.run()
            tm.run(dp.data)
        times.append((time.perf_counter() - t0) / chunk * 1e6)
    print(
        f"\n## EVENT LOOP\n\n{turns:,} turns of the seed's loop (two hits a turn), µs per turn "
        f"by tenth: "
        + ", ".join(f"{t:.1f}" for t in times)
        + f"\nfirst tenth {times[0]:.1f} µs, last tenth {times[-1]:.1f} µs"
    )


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def bench_memory(folder: Path, hits: int) -> None:
    f = cachework.work(name="memory", store=str(folder / "memory.db"))(small)
    f("2022-05-25", 7)
    for _ in range(10_000):  # warm every cache first
        f("2022-05-25", 7)
    before = _rss()
    for _ in range(hits):
        f("2022-05-25", 7)
    grown = _rss() - before
    print(f"\n## MEMORY\n\n{hits:,} hits grew RSS by {grown / 2**20:.2f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only",
        default="hit,distinct,keys,miss,scale,large,cold,concurrent,memory,waiting,loop",
    )
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--scale-rows", type=int, default=1_000_000)
    parser.add_argument("--postgres", help="also run HIT and MISS against this PostgreSQL URL")
    args = parser.parse_args()
    only = set(args.only.split(","))
    print(
        f"python {sys.version.split()[0]}, cachework {cachework.__version__}, {os.cpu_count()} cores"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if "hit" in only:
            bench_hit(folder, args.rounds, args.calls, None)
        if "distinct" in only:
            bench_distinct(folder, args.rounds, args.calls)
        if "keys" in only:
            bench_keys(folder, args.rounds, args.calls * 5)
        if "miss" in only:
            bench_miss(folder, args.rounds, max(50, args.calls // 10), None)
        if args.postgres:
            with _pg_schema(args.postgres) as url:
                if "hit" in only:
                    bench_hit(folder, args.rounds, args.calls // 4, url)
                if "pghit" in only or "hit" in only:
                    bench_pg_hit(args.rounds, args.calls // 4, url)
                if "miss" in only:
                    bench_miss(folder, args.rounds, 50, url)
        if "scale" in only:
            bench_scale(folder, args.rounds, args.calls, args.scale_rows)
        if "large" in only:
            bench_large(folder, max(5, args.rounds // 3))
        if "cold" in only:
            bench_cold(folder, max(21, args.rounds))
        if "concurrent" in only:
            bench_concurrent(folder, 3000, max(3, args.rounds // 3))
        if "memory" in only:
            bench_memory(folder, 1_000_000)
        if "waiting" in only:
            bench_waiting(folder)
        if "loop" in only:
            bench_event_loop(folder, 100_000)


if __name__ == "__main__":
    main()

"""Where a distinct-key hit goes: each part of one, run alone, for callgrind.

    python benchmarks/hit_parts.py --store /tmp/parts.db none 0          # fill the store once
    PYTHONHASHSEED=0 valgrind --tool=callgrind python benchmarks/hit_parts.py --store /tmp/parts.db none 0
    PYTHONHASHSEED=0 valgrind --tool=callgrind python benchmarks/hit_parts.py --store /tmp/parts.db PART 2000

(instructions of a PART run minus those of the ``none`` run) / 2,000 is that part's cost
per hit: start-up, imports and every part's warm-up are in both and cancel. The hit is
``g(day, i)`` over 2,000 stored keys cycled, more than the key memo holds, so each one
binds, encodes, hashes, reads and loads as a pipeline's hit does. The parts, each on the
same 2,000 calls:

- ``hit``: the whole hit, ``g(day, i)``;
- ``loop``: the benchmark's own loop, indexing the day and the number (in every part);
- ``key``: the key of a call passing every parameter by position, made without binding
  (``keys.PositionalKey``); ``hashing``: xxh3_128 alone over the same bytes (so encoding
  is ``key`` minus ``hashing``);
- ``statement``: the hit's ``SELECT`` and its ``fetchone`` on the store's connection,
  nothing around it; ``read``: ``store.hit`` (the statement, its record, the layers);
- ``fresh``: the freshness check left to Python (the result's presence, the expiry);
  ``unpickle``: ``pickle.loads`` of the result;
- ``serve``: ``Work._serve`` (unpickling, state restore, status, the debug log call);
  ``log``: the hit's debug record, disabled (``logging`` not imported).

A call with keywords takes the general way instead: ``binding`` (the arguments bound to
names), ``key_for`` (encoding and hashing the bound arguments), and the key memo
(``memo``: its key and lookup; ``remember``: filling it).
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
from pathlib import Path

import xxhash

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cachework  # noqa: E402
from cachework import _backends, _binding, _log  # noqa: E402, F401
from cachework import _keys as keys  # noqa: E402

KEYS = 2000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", required=True)
    parser.add_argument("part")
    parser.add_argument("n", type=int)
    args = parser.parse_args()

    @cachework.work(name="g", store=args.store)
    def g(day: str, n: int) -> dict[str, object]:
        return {"day": day, "n": n}

    days = [f"2026-{1 + i // 28 % 12:02d}-{1 + i % 28:02d}" for i in range(KEYS)]
    calls = [((day, i), {}) for i, day in enumerate(days)]
    for i, day in enumerate(days):  # runs on the first fill; hits afterwards
        g(day, i)
    store = g.store
    backend = store._ensure()
    conn = backend._local.conn
    bound = [g._cw_binder(a, kw) for a, kw in calls]
    encoded = []
    for b in bound:  # the bytes key_for hashes, built as it builds them
        parts = [keys._PREFIX, keys._len(len(b))]
        parts += [keys._str(name) + keys.encode(b[name]) for name in sorted(b)]
        encoded.append(b"".join(parts))
    key_list = [keys.key_for(b) for b in bound]
    assert key_list == [xxhash.xxh3_128_hexdigest(e) for e in encoded]
    hits = [store.hit("g", k) for k in key_list]
    assert all(h is not None and h.result is not None for h in hits)
    slots = [_binding.memo_key(a, kw) for a, kw in calls]
    log = cachework._work.log
    enabled, DEBUG = cachework._log.enabled, cachework._log.DEBUG
    ns: dict[str, object] = {}

    slot_memo = g.__dict__.get(_binding.MEMO)
    if not isinstance(slot_memo, dict):  # a memo at rest: measure a live one's lookup
        slot_memo = {}
    stmt, binder, expired, serve = _backends.SQLITE_HIT, g._cw_binder, store._expired, g._serve
    positional = g._cw_positional
    assert positional is not None
    assert [positional(a, None) for a, _ in calls] == key_list
    memo_key, remember, key_for, digest = (
        _binding.memo_key,
        _binding.remember,
        keys.key_for,
        (xxhash.xxh3_128_hexdigest),
    )
    # One loop per part, each with the same indexing, so a part's figure is only its body.
    bodies = {
        "hit": "g(days[i], i)",
        "loop": "days[i], i",
        "key": "positional(calls[i][0], None)",
        "hashing": "digest(encoded[i])",
        "statement": "conn.execute(stmt, ('g', key_list[i])).fetchone()",
        "read": "store.hit('g', key_list[i])",
        "fresh": "h = hits[i]; h.result is not None and (h.expires_at is None or not expired(h))",
        "unpickle": "pickle.loads(hits[i].result)",
        "serve": "serve(hits[i], 'g', key_list[i])",
        "log": "enabled(DEBUG) and log.debug('hit %s [%s]', 'g', key_list[i])",
        "binding": "binder(*calls[i])",
        "key_for": "key_for(bound[i])",
        "memo": "memo_key(*calls[i]); slot_memo.get(slots[i])",
        "remember": "remember(ns, slots[i], bound[i], key_list[i])",
    }
    here = dict(locals(), pickle=pickle)
    parts = {}
    for name, body in bodies.items():
        code = f"def part(n):\n    for j in range(n):\n        i = j % {KEYS}\n        {body}\n"
        scope = dict(here)
        exec(code, scope)  # the closure's names as globals: the same cost in every part
        parts[name] = scope["part"]
    for part in parts.values():  # every part warmed in every run, so only the timed loop differs
        part(10)
    if args.part != "none":
        parts[args.part](args.n)
    os.environ.pop("CACHEWORK_URL", None)


if __name__ == "__main__":
    main()

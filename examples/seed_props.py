"""The seed's ExampleWork: with cache_calls=True the repeated calls are skipped.

    python examples/seed_props.py

Prints what each work received. With cache_calls=True, `value=1` is printed once and
`value=10` once (and on a second start of this script, not at all: the cache is durable);
with cache_calls=False every call prints, and every run is still in the history.
"""

from __future__ import annotations

import cachework


class ExampleWork(cachework.Work):
    def run(self, *args, **kwargs):
        print(f"I received the following props: args: {args} kwargs: {kwargs}")


def main() -> None:
    print("cache_calls=True")
    work = ExampleWork(name="seed.cached")
    for _ in range(5):
        work.run(value=1)
    work.run(value=10)

    print("cache_calls=False")
    work = ExampleWork(name="seed.uncached", cache_calls=False)
    for _ in range(5):
        work.run(value=1)
    work.run(value=10)

    runs = cachework.Store().history(work="seed.uncached", limit=None)
    print(f"seed.uncached has {len(runs)} runs in the history")


if __name__ == "__main__":
    main()

"""One daemon thread per process keeps the heartbeat of every call the process runs."""

from __future__ import annotations

import logging
import threading
from typing import Any

from ._owner import pid as _getpid

log = logging.getLogger("cachework")


class Heartbeats:
    """Calls this process owns, beaten every lease/4 so other hosts know the owner lives."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owned: dict[
            int, tuple[Any, str, str, float]
        ] = {}  # run_id -> store, work, key, lease
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._interval = 60.0 / 4

    def owns(self, run_id: int) -> bool:
        """Whether this process runs ``run_id`` now."""
        return self._pid == _getpid() and run_id in self._owned

    def add(self, run_id: int, store: Any, work: str, key: str, lease: float) -> None:
        with self._lock:
            if self._pid != _getpid():  # a forked child inherits neither thread nor calls
                self._owned, self._thread, self._pid = {}, None, _getpid()
            self._owned[run_id] = (store, work, key, lease)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="cachework-heartbeat", daemon=True
                )
                self._thread.start()
            sooner = lease / 4 < self._interval
        if sooner:  # the thread sleeps too long for this lease: wake it to recompute
            self._wake.set()

    def remove(self, run_id: int) -> None:
        with self._lock:
            self._owned.pop(run_id, None)

    def _loop(self) -> None:
        while True:
            with self._lock:
                owned = list(self._owned.items())
            self._interval = min((lease for _, (_, _, _, lease) in owned), default=60.0) / 4
            self._wake.wait(self._interval)
            self._wake.clear()
            with self._lock:
                owned = list(self._owned.items())
            by_store: dict[int, tuple[Any, list[tuple[str, str, int]]]] = {}
            for run_id, (store, work, key, _) in owned:
                by_store.setdefault(id(store), (store, []))[1].append((work, key, run_id))
            for store, calls in by_store.values():
                try:
                    store.beat(calls)
                except Exception:  # a missed beat is retried next round; the lease allows 3
                    log.warning("heartbeat to %s failed", store, exc_info=True)


heartbeats = Heartbeats()

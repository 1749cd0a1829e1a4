"""One daemon thread per process keeps the heartbeat of every call the process runs."""

from __future__ import annotations

import threading

from ._log import log
from ._owner import pid as _getpid
from ._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._claims import Claim, Claims


#: How often a release that failed is tried again (seconds).
RELEASE_RETRY_S = 1.0


class Heartbeats:
    """Calls this process owns, beaten every lease/4 so other hosts know the owner lives."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owned: dict[int, Claim] = {}  # by run id
        # Runs this process gave up but could not release, and why, by run id.
        self._releases: dict[int, tuple[Claim, str]] = {}
        self._wake = threading.Event()
        self._recompute = False  # the thread was woken to shorten its sleep, not to beat
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._interval = 60.0 / 4

    def owns(self, run_id: int) -> bool:
        """Whether this process runs ``run_id`` now."""
        return self._pid == _getpid() and run_id in self._owned

    def add(self, claim: Claim) -> None:
        with self._lock:
            self._start()
            self._owned[claim.run_id] = claim
            sooner = claim.lease / 4 < self._interval
            # Wake the thread to shorten its sleep, not to beat: a run that just claimed
            # has a fresh heartbeat, and a beat in flight when the run enters a C call that
            # holds the GIL would hold SQLite's write lock for the whole call.
            self._recompute = self._recompute or sooner
        if sooner:
            self._wake.set()

    def release_later(self, claim: Claim, why: str) -> None:
        """Keep trying to release a run this process gave up but could not release.

        A live owner on this host is never taken over, so its call would stay ``running``
        until the process exits: the heartbeat thread retries at once, then every
        ``RELEASE_RETRY_S``, until the store takes the release.
        """
        with self._lock:
            self._start()
            self._releases[claim.run_id] = (claim, why)
        self._wake.set()

    def _start(self) -> None:
        """Start the thread if this process has none (called with the lock held)."""
        if self._pid != _getpid():  # a forked child inherits neither thread nor calls
            self._owned, self._releases, self._thread = {}, {}, None
            self._pid = _getpid()
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._loop, name="cachework-heartbeat", daemon=True
            )
            self._thread.start()

    def remove(self, run_id: int) -> None:
        with self._lock:
            self._owned.pop(run_id, None)

    def _loop(self) -> None:
        while True:
            with self._lock:
                owned = list(self._owned.values())
                pending = bool(self._releases)
            quarters = [claim.lease / 4 for claim in owned]
            self._interval = min(quarters + [RELEASE_RETRY_S if pending else 60.0 / 4])
            self._wake.wait(self._interval)
            self._wake.clear()
            with self._lock:
                owned = list(self._owned.values())
                recompute, self._recompute = self._recompute, False
                if recompute and not self._releases:
                    continue
            by_store: dict[int, tuple[Claims, list[Claim]]] = {}
            for claim in owned:
                by_store.setdefault(id(claim.store), (claim.store, []))[1].append(claim)
            for store, claims in by_store.values():
                try:
                    store.beat(claims)
                except Exception:  # a missed beat is retried next round; the lease allows 3
                    log.warning("heartbeat to %s failed", store, exc_info=True)
            with self._lock:
                releases = list(self._releases.items())
            for run_id, (claim, why) in releases:
                try:
                    claim.release(why, retry=False)
                except Exception:
                    log.warning(
                        "releasing %s [%s] failed again", claim.work, claim.key, exc_info=True
                    )
                    continue
                with self._lock:
                    self._releases.pop(run_id, None)


heartbeats = Heartbeats()

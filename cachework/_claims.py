"""A claim: one call this process owns, from ``Store.claim`` until it is finished or released.

The handle carries the call's identity (store, work, key, run id), so the code that runs a
call passes one value along instead of four, and it owns the run's heartbeat: joined at the
claim, left at ``finish`` or ``release``.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import TYPE_CHECKING, NamedTuple

from ._heartbeat import heartbeats

if TYPE_CHECKING:
    from .store import Store

log = logging.getLogger("cachework")


class Outcome(NamedTuple):
    """How a run ended: what ``Claim.finish`` writes into the call and its history row."""

    status: str  # "succeeded" or "failed"
    duration_s: float
    result: bytes | None = None
    state: bytes | None = None
    ttl_s: float | None = None
    error_type: str | None = None
    error: str | None = None
    traceback: str | None = None


class Busy(NamedTuple):
    """``Store.claim``'s answer when a live owner runs the call now."""

    owner: str


class Claim:
    """A call this process owns and must end with ``finish`` or ``release``.

    From the claim's commit to its end the run is in this process's heartbeats: other
    callers on this host then see its owner alive, and other hosts see its heartbeat.
    ``with claim:`` ends that on every path, also one that neither finishes nor releases
    (the run is then taken over as a dead owner's would be, never left stuck).
    """

    __slots__ = ("store", "work", "key", "run_id", "reason", "lease")

    def __init__(
        self, store: Store, work: str, key: str, run_id: int, reason: str, lease: float
    ) -> None:
        self.store = store
        self.work = work
        self.key = key
        self.run_id = run_id
        self.reason = reason  # why the call runs: "new", "expired", "taking over from ..."
        self.lease = lease

    def __repr__(self) -> str:
        return f"Claim({self.work} [{self.key}], run {self.run_id})"

    def finish(self, outcome: Outcome) -> bool:
        """Record how the run ended (see ``Store.finish``); whether the call was written."""
        try:
            return self.store.finish(self, outcome)
        finally:
            heartbeats.remove(self.run_id)

    def release(self, why: str, *, retry: bool = True) -> None:
        """Give the call back unfinished (Ctrl-C, SIGTERM, an outcome that could not be
        recorded): its run is ``interrupted``. A live owner on this host is never taken over,
        so a release that fails is retried by the heartbeat thread until the store takes it
        (``retry=False``: raise instead; what that retry itself uses)."""
        try:
            self.store.release(self, why)
        except Exception:
            if not retry:
                raise
            log.warning("could not release %s [%s]; retrying", self.work, self.key, exc_info=True)
            heartbeats.release_later(self, why)
        finally:
            heartbeats.remove(self.run_id)

    def __enter__(self) -> Claim:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Whatever happened, this process stops vouching for the run: if recording its end
        # failed, its call is taken over once the lease lapses, never stuck.
        heartbeats.remove(self.run_id)

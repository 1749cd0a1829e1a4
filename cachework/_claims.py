"""The claim protocol: a hit's read, the claim that lets one caller run a call, its
finish or release, the heartbeat that says its owner lives, and the sweep of dead owners.

A call's life is ``hit`` (a hit reads one row and writes nothing), else ``claim`` (one
transaction: take the call, write its history row), which hands out a ``Claim``: a handle
that carries the call's identity (store, work, key, run id), so the code that runs a call
passes one value along, and owns the run's heartbeat from the claim to ``Claim.finish`` or
``Claim.release``.
"""

from __future__ import annotations

import os
from types import TracebackType

from . import _owner
from ._backends import _Retry
from ._errors import StoreError
from ._formats import storable
from ._heartbeat import heartbeats
from ._keys import KEY_SCHEME
from ._log import INFO, enabled, log
from ._records import Held, Stored
from ._typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from ._backends import Backend
    from ._records import Cursor, Hit, StoreTime


#: A running call whose owner has not beaten for this long is presumed dead (seconds).
DEFAULT_LEASE = 60.0


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
        self, store: Claims, work: str, key: str, run_id: int, reason: str, lease: float
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


class Claims:
    """The claim protocol of a store, mixed into ``Store`` (its one public face): the hit
    path reaches it with no call in between. It uses the store's backend, opened once by
    ``Store._ensure``, and the host name the store writes in ``owner``."""

    if TYPE_CHECKING:
        _backend: Backend
        _ready: bool
        _host: str
        _scheme_checked: set[str]

        def _ensure(self) -> Backend: ...

    # -- the hot path -----------------------------------------------------------------------
    def hit(self, work: str, key: str) -> Hit | None:
        """The call (work, key) as a hit reads it (its result only where ``_stale``'s rules
        but expiry let it be served: see ``_expired``), or None if the store has none."""
        backend = self._backend if self._ready else self._ensure()
        return backend.hit(work, key)

    def lookup(self, work: str, key: str) -> Stored | None:
        """The call (work, key) with its status and what tells whether it is fresh, or None."""
        return self._ensure().lookup(work, key)

    def is_fresh(self, call: Stored) -> bool:
        """Whether a call's result may be served: it succeeded and is not stale."""
        return call.status == "succeeded" and not self._stale(call)

    def _stale(self, call: Stored) -> str:
        """Why a succeeded call may not be served, or "" if it may: the one place of the
        rules, asked by every hit and by a claim that must say why it runs."""
        if not call.cached:
            return "not cached"
        if call.key_scheme != KEY_SCHEME:
            return "written under another key scheme"
        if self._expired(call):
            return "expired"
        return ""

    def _expired(self, call: Stored | Hit) -> bool:
        """Whether a call's time to live has passed, by the backend's clock: the one rule of
        ``_stale`` a hit's statement leaves to the caller."""
        return call.expires_at is not None and self._backend.expired(call.expires_at)

    # -- claims -----------------------------------------------------------------------------
    def claim(
        self,
        work: str,
        key: str,
        args_json: str,
        *,
        cached: bool,
        accept_hit: bool,
        lease: float,
        versioned: str = "",
        absent: bool = False,
        refresh: bool = False,
        args_key: str | None = None,
    ) -> Claim | Busy | Stored:
        """Take (work, key) for this process, atomically: a ``Claim`` to run it, else who
        holds it (``Busy``), or, with ``accept_hit``, the call a result appeared in meanwhile.

        ``versioned`` is what the work says changed when a call of the same arguments had
        another key ("new version", "code changed"; "" if only arguments make keys): the
        reason a new call then gives, when a recent run had the same ``args_key`` (the key of
        the arguments without the version; the key itself where there is no version). ``absent`` says a lookup just found no call: the claim
        then inserts at once and reads the call only if that insert meets one (a statement
        less on every miss).
        A claimed call joins this process's heartbeats before the claim commits, so another
        thread of this process never mistakes it for a leftover of a lost commit.
        ``refresh``: the caller asked to run it again (``work.refresh``, CACHEWORK_REFRESH);
        pass ``accept_hit=False`` with it. The run's reason is then "refresh".
        """
        backend = self._ensure()
        if backend.older_revision is not None and not backend.read_only:
            # Opened as it is (create=False: what reading commands need). A run writes what
            # later revisions added (the runs' reason and args_key): refused before it starts
            # rather than half-written, as a read-only store refuses it in ``transaction``.
            raise StoreError(
                f"store {backend.shown} is at schema revision {backend.older_revision} and "
                "was opened as it is (create=False): it serves hits, but recording a run "
                "needs this cachework's schema: run `cachework db upgrade` on it first"
            )
        pid = _owner.pid()
        owner = f"{self._host}:{pid}"
        # Everything that does not depend on what the transaction reads is built before it
        # starts: time inside it is time every other writer of the store waits.
        params: dict[str, object] = {"work": work, "key": key}
        common = {**params, "args": args_json, "cached": cached}
        args_key = args_key or key
        run_values = {**common, "host": self._host, "pid": pid, "args_key": args_key}
        values = {
            **common,
            "owner": owner,
            "owner_start": _owner.this_process_start(),
            "lease_s": lease,
            "key_scheme": KEY_SCHEME,
        }

        def attempt(cur: Cursor) -> Claim | Busy | Stored:
            nonlocal absent
            stamp = backend.stamp(cur)
            row = None if absent else backend.execute(cur, "claim_select", params).fetchone()
            held = None if row is None else Held._make(row)
            reason: str | None
            if held is None:
                reason = (
                    "refresh"
                    if refresh
                    else self._why_new(backend, cur, work, key, args_key, versioned)
                )
            elif held.status == "running":
                now = stamp or backend.now(cur)  # a server is asked only when it matters
                if self._alive(held, now, backend):
                    return Busy(held.owner or "")
                backend.execute(
                    cur,
                    "run_interrupt",
                    {
                        "run_id": held.run_id,
                        "now": now,
                        "error_type": "Interrupted",
                        "error": f"owner {held.owner} died; taken over by {owner}",
                    },
                )
                reason = f"taking over from {held.owner}, whose run {held.run_id} died"
            elif held.status == "succeeded":
                stored = held.stored
                reason = self._stale(stored)
                if not reason:
                    if accept_hit:
                        return stored
                    # Fresh, yet a hit was refused: its result did not load, or not cached.
                    reason = "stored result unreadable" if cached else "not cached"
                elif reason == "written under another key scheme":
                    self._scheme_checked.add(work)
                    self._warn_scheme(work)
            else:
                reason = "failed before"
            if refresh and held is not None and held.status != "running":
                reason = "refresh"
            run_values["now"] = values["now"] = stamp
            run_values["reason"] = reason
            run_id = backend.inserted_id(backend.execute(cur, "run_insert", run_values))
            values["run_id"] = run_id
            if held is None:
                if backend.execute(cur, "call_insert", values).rowcount == 0:
                    absent = False  # someone inserted it after all: read it, from the start
                    raise _Retry()
            else:
                backend.execute(cur, "call_take", values)
            claim = Claim(self, work, key, run_id, reason or "new", lease)
            heartbeats.add(claim)
            registered.append(run_id)
            return claim

        registered: list[int] = []
        try:
            got = backend.transaction(attempt)
        except BaseException:
            for run_id in registered:
                heartbeats.remove(run_id)
            raise
        for run_id in registered:  # attempts that were retried (busy) never committed
            if not isinstance(got, Claim) or run_id != got.run_id:
                heartbeats.remove(run_id)
        return got

    def _warn_scheme(self, work: str) -> None:
        log.warning(
            "%s has calls written under another key scheme than %d; they will not be hit "
            "(`cachework forget %s --all` removes them)",
            work,
            KEY_SCHEME,
            work,
        )

    def _why_new(
        self, backend: Backend, cur: Cursor, work: str, key: str, args_key: str, versioned: str
    ) -> str | None:
        """Why a call the store has no row of runs, or None: then the run's insert itself
        records "forgotten" or "new" (``_sql``: a statement less on every miss), and nobody
        logs it. Asked here when the log would say it, or for a versioned work, whose
        "new version" or "code changed" (``versioned``) only a query can tell: it looks at the
        store's latest ``_sql.RECENT_RUNS`` runs only, the same cost at any history length,
        inside the write lock. The key-scheme check runs once per work and process, as a
        warning."""
        params = {"work": work, "key": key}
        if work not in self._scheme_checked:
            self._scheme_checked.add(work)
            other = {"work": work, "key_scheme": KEY_SCHEME}
            if backend.execute(cur, "other_scheme", other).fetchone()[0]:
                self._warn_scheme(work)
        if not versioned and not enabled(INFO):
            return None
        if backend.execute(cur, "ran_before", params).fetchone()[0]:
            return "forgotten"
        if (
            versioned
            and backend.execute(cur, "same_args", {**params, "args_key": args_key}).fetchone()[0]
        ):
            return versioned
        return "new"

    def _alive(self, held: Held, now: StoreTime, backend: Backend) -> bool:
        """Whether the owner of a running call still runs it.

        On this host the process answers, whatever its heartbeat says: a dead owner is
        taken over at once, a live one never. Its heartbeat may lapse while it is alive and
        running (a C call that holds the GIL starves the heartbeat thread; another process's
        clock may run ahead of the owner's), and a takeover then would run the call twice.
        A live process that gave up a run it could not record retries the release itself
        (``heartbeats.release_later``). Elsewhere only the heartbeat can answer, so a silent
        owner on another host is dead once its lease lapses.
        """
        host, _, pid_text = (held.owner or "").rpartition(":")
        if host == self._host and pid_text.isdigit():
            pid = int(pid_text)
            if pid == _owner.pid():
                return held.run_id is not None and heartbeats.owns(held.run_id)
            return _owner.is_alive(pid, held.owner_start)
        beat = held.heartbeat_at
        return beat is not None and (
            backend.epoch(now) - backend.epoch(beat) < (held.lease_s or DEFAULT_LEASE)
        )

    def finish(self, claim: Claim, outcome: Outcome) -> bool:
        """Record how a run ended, in the call and in the history, in one transaction: what
        ``Claim.finish`` runs.

        Only the run that still owns the claim writes: if another caller took the call over
        (this owner's heartbeat lapsed on another host) or it was forgotten, the call stays
        as it is and a history row already marked ``interrupted`` is not rewritten. Returns
        whether the call was written; the caller's own value is still right for it.
        """
        backend = self._ensure()
        work, key, run_id = claim.work, claim.key, claim.run_id
        ttl_s = outcome.ttl_s

        # Built before the transaction, filled with its time inside: see ``claim``.
        call_values = {
            "work": work,
            "key": key,
            "run_id": run_id,
            "status": outcome.status,
            "result": outcome.result,
            "state": outcome.state,
        }
        run_values = {
            "run_id": run_id,
            "status": outcome.status,
            "duration_s": outcome.duration_s,
            "error_type": storable(outcome.error_type),
            "error": storable(outcome.error),
            "traceback": storable(outcome.traceback),
        }

        def attempt(cur: Cursor) -> bool:
            stamp = call_values["now"] = run_values["now"] = backend.stamp(cur)
            call_values["expires_at"] = (
                None if ttl_s is None else backend.later(stamp or backend.now(cur), ttl_s)
            )
            owned = backend.execute(cur, "call_finish", call_values).rowcount == 1
            # Guarded by status='running': a row a takeover marked interrupted stays so.
            backend.execute(cur, "run_finish", run_values)
            return owned

        owned = backend.transaction(attempt)
        if not owned:
            log.warning(
                "%s [%s]: run %d ended %s, but it no longer owned the call (taken over by "
                "another caller, or forgotten): the call is left as it is and the outcome "
                "goes to this caller only",
                work,
                key,
                run_id,
                outcome.status,
            )
        return owned

    def release(self, claim: Claim, why: str) -> None:
        """Give a call back unfinished, its run ``interrupted``: what ``Claim.release`` runs."""
        backend = self._ensure()
        why = storable(why)  # it may quote an error's text
        params = {"work": claim.work, "key": claim.key, "run_id": claim.run_id}

        def attempt(cur: Cursor) -> None:
            backend.execute(cur, "call_release", params)
            backend.execute(
                cur,
                "run_interrupt",
                {**params, "now": backend.stamp(cur), "error_type": "Interrupted", "error": why},
            )

        backend.transaction(attempt)

    def beat(self, claims: list[Claim]) -> None:
        """Refresh the heartbeat of every call this process runs in this store."""
        backend = self._ensure()

        def attempt(cur: Cursor) -> None:
            stamp = backend.stamp(cur)
            for c in claims:
                values = {"work": c.work, "key": c.key, "run_id": c.run_id, "now": stamp}
                backend.execute(cur, "heartbeat", values)

        backend.transaction(attempt)

    def sweep(self) -> int:
        """Mark ``interrupted`` every run whose owner is dead, and free its call."""
        import sqlalchemy as sa

        from .schema import calls, runs

        backend = self._ensure()
        with backend.engine.connect() as conn:
            running = conn.execute(
                sa.select(calls.c.work, calls.c.key, calls.c.run_id).where(
                    calls.c.status == "running"
                )
            ).all()
            orphans = conn.execute(
                sa.select(runs.c.id, runs.c.host, runs.c.pid).where(
                    runs.c.status == "running",
                    ~sa.exists().where(calls.c.run_id == runs.c.id),
                )
            ).all()
        swept = 0
        for call in running:
            params = {"work": call.work, "key": call.key, "run_id": call.run_id}

            def release_dead(cur: Cursor, params: dict[str, object] = params) -> int:
                now = backend.now(cur)
                row = backend.execute(cur, "sweep_select", params).fetchone()
                held = None if row is None else Held._make(row)
                if held is None or held.status != "running" or held.run_id != params["run_id"]:
                    return 0
                if self._alive(held, now, backend):
                    return 0
                backend.execute(cur, "call_release", params)
                error = f"owner {held.owner} died; swept by prune"
                backend.execute(
                    cur,
                    "run_interrupt",
                    {**params, "now": now, "error_type": "Interrupted", "error": error},
                )
                return 1

            swept += backend.transaction(release_dead)
        for run in orphans:
            # A run with no call pointing at it was taken over or forgotten. Only a run of
            # this host can be judged without its call: by its pid.
            if run.host != self._host or heartbeats.owns(run.id):
                continue
            if run.pid != os.getpid() and _owner.is_alive(run.pid, None):
                continue

            def mark(cur: Cursor, run_id: int = run.id) -> int:
                values = {
                    "run_id": run_id,
                    "now": backend.now(cur),
                    "error_type": "Interrupted",
                    "error": "owner died; swept by prune",
                }
                return backend.execute(cur, "run_interrupt", values).rowcount

            swept += backend.transaction(mark)
        return swept

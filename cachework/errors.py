"""The error hierarchy: one base class so callers can catch everything cachework raises."""

from __future__ import annotations


class CacheworkError(Exception):
    """Base of every error cachework raises on purpose."""


class UnhashableArgument(CacheworkError, TypeError):
    """An argument (or something inside it) has no stable encoding, so it cannot form a key."""


class StoreError(CacheworkError):
    """The store cannot be opened, read or written; the message names the store."""


class AlreadyRunning(CacheworkError):
    """Another caller runs the same call and ``on_running`` says not to wait (or waiting timed out)."""


class UnstorableResult(CacheworkError):
    """A return value (or the work state) cannot be serialized; the run is recorded failed."""


class CatchupFailed(CacheworkError):
    """Periods a ``catchup=`` call ran before the current one failed; the others ran.

    ``failed`` maps each failed period's label to its error; ``result`` is the current
    period's result, which was computed (and stored) all the same.
    """

    def __init__(self, work: str, failed: dict[str, str], result: object = None) -> None:
        self.work, self.failed, self.result = work, dict(failed), result
        shown = ", ".join(f"{label} ({error})" for label, error in self.failed.items())
        n = len(self.failed)
        super().__init__(f"{work}: catch-up: {n} period{'s' if n != 1 else ''} failed: {shown}")

    def __reduce__(self) -> tuple[object, ...]:
        return (CatchupFailed, (self.work, self.failed, self.result))

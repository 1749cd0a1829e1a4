"""The error hierarchy: one base class so callers can catch everything cachework raises."""

from __future__ import annotations


class CacheworkError(Exception):
    """Base of every error cachework raises on purpose."""


class UnhashableArgument(CacheworkError, TypeError):
    """An argument (or something inside it) has no stable encoding, so it cannot form a key."""


class StoreError(CacheworkError):
    """The store cannot be opened, read or written; the message names the store."""


class NoSchema(StoreError):
    """The database has no cachework tables and may not get them here (a reading command):
    ``cachework db current`` says ``none``; every other reading command, this error."""


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


class NoSuchCall(CacheworkError, LookupError):
    """No call of the work matches the key or argument values asked for (``Store.call``)."""


class NoSuchWork(NoSuchCall):
    """The store has no call and no run of a work by that name (a typo, or another store)."""


class AmbiguousCall(CacheworkError, LookupError):
    """Several calls match where one was asked for; ``keys`` names them, to pick one by key."""

    def __init__(self, work: str, keys: list[str]) -> None:
        self.work, self.keys = work, list(keys)
        shown = ", ".join(self.keys[:5]) + (" ..." if len(self.keys) > 5 else "")
        super().__init__(f"{len(self.keys)} calls of {work} match; name one by key ({shown})")

    def __reduce__(self) -> tuple[object, ...]:
        return (AmbiguousCall, (self.work, self.keys))


def error_text(e: BaseException) -> str:
    """The message of a failure, even from an exception whose ``__str__`` itself raises:
    recording the failure must never turn into a second error that hides the first."""
    try:
        return str(e)
    except Exception:
        return "<exception str() failed>"  # what the traceback module prints

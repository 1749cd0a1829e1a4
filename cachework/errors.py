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

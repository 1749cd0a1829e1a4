"""The library's logger, ``logging.getLogger("cachework")``, taken at its first use.

Importing ``logging`` (and ``traceback``, ``string``, ``weakref`` and the rest it brings)
cost a cold start more than everything else a hit needs together, and a process that only
hits never logs. Every module logs through ``log`` here: the first time anything is asked
of it, it imports logging and hands over the real logger's methods, so later calls go
straight to them. ``enabled`` answers "would a record of this level reach anyone?" without
importing logging: before some code imports it, no handler exists that could receive one.
"""

from __future__ import annotations

import sys

from ._typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    import logging
    from typing import Any

__all__ = ["DEBUG", "INFO", "enabled", "log"]

#: ``logging.DEBUG`` and ``logging.INFO`` (fixed by the logging module's documentation).
DEBUG, INFO = 10, 20
_METHODS = ("debug", "info", "warning", "error", "exception", "log", "isEnabledFor")
_modules = sys.modules


class _Logger:
    """Stands for the logger until first used, then carries its methods."""

    def __getattr__(self, name: str) -> Any:
        import logging

        logger = logging.getLogger("cachework")
        if not any(type(h) is logging.NullHandler for h in logger.handlers):
            # A library's records go nowhere unless the application configures logging
            # (never to logging's last-resort stderr handler).
            logger.addHandler(logging.NullHandler())
        for method in _METHODS:
            setattr(self, method, getattr(logger, method))
        return getattr(logger, name)


log = cast("logging.Logger", _Logger())


def enabled(level: int) -> bool:
    """Whether a record of ``level`` would be handled: never before logging is imported."""
    return "logging" in _modules and log.isEnabledFor(level)

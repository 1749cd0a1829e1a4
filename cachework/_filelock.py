"""One process at a time creates or upgrades a SQLite store: a file lock, as the platform has one."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from ._log import log

if sys.platform == "win32":
    import msvcrt

    @contextlib.contextmanager
    def migration_lock(path: str, folder: str) -> Iterator[None]:
        """Hold a lock on ``<store>.lock`` beside the database (Windows cannot open a folder).
        The file stays: removing it would let two processes lock two different files."""
        fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            while True:
                try:
                    msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # gives up after 10 s: wait on
                    break
                except OSError:
                    continue
            try:
                yield
            finally:
                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        finally:
            os.close(fd)

else:
    try:
        import fcntl
    except ImportError:  # a POSIX without file locks (WASI, Emscripten)
        fcntl = None  # type: ignore[assignment]

    @contextlib.contextmanager
    def migration_lock(path: str, folder: str) -> Iterator[None]:
        """Hold an exclusive lock on the store's folder, not on the file: closing any
        descriptor of the database would drop SQLite's own POSIX locks held by this process."""
        if fcntl is None:
            # Nothing to lock with: processes that create one new store at the same moment
            # may both try, and all but one fail with a StoreError; the next start works.
            log.debug("no file locks on this platform: creating %s unlocked", path)
            yield
            return
        fd = os.open(folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

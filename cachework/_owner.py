"""Who owns a running call (``host:pid``), and whether that owner is still alive."""

from __future__ import annotations

import os

_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


def pid() -> int:
    """This process's id without a system call (a miss asked six times): forks update it."""
    return _pid


def host() -> str:
    """This machine's id in the ``owner`` column; ``CACHEWORK_HOST`` overrides it (tests, containers)."""
    return os.environ.get("CACHEWORK_HOST") or os.uname().nodename


def process_start(pid: int) -> str | None:
    """When ``pid`` started, in clock ticks since boot: tells a live owner from a reused pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; fields after it do not.
    return stat[stat.rindex(b")") + 2 :].split()[19].decode()


_start: tuple[int, str | None] = (0, None)


def this_process_start() -> str | None:
    """``process_start`` of this process, read once per pid (a fork gets its own)."""
    global _start
    me = _pid
    if _start[0] != me:
        _start = (me, process_start(me))
    return _start[1]


def is_alive(pid: int, start: str | None) -> bool:
    """Whether the process that claimed a call on this host still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    if start is None:
        return True
    now = process_start(pid)
    if now is None:
        return True  # no /proc here: the pid alone has to do
    return now == start and not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3] == b"Z"

"""Who owns a running call (``host:pid``), and whether that owner is still alive.

Liveness uses what the platform gives: on Linux ``/proc`` tells a live owner from a reused
pid by the process's start time; elsewhere on POSIX the pid alone (``kill(pid, 0)``); on
Windows the process handle (``OpenProcess``) and its creation time.
"""

from __future__ import annotations

import os
import sys

_pid = os.getpid()
#: Where Linux shows processes; elsewhere nothing is there and the fallbacks below answer.
_PROC = "/proc"


def _forked() -> None:
    global _pid
    _pid = os.getpid()


if hasattr(os, "register_at_fork"):  # POSIX; Windows has no fork, so the pid never changes
    os.register_at_fork(after_in_child=_forked)


def pid() -> int:
    """This process's id without a system call (a miss asked six times): forks update it."""
    return _pid


_node: str | None = None


def host() -> str:
    """This machine's id in the ``owner`` column; ``CACHEWORK_HOST`` overrides it (tests, containers)."""
    global _node
    if _node is None:
        uname = getattr(os, "uname", None)  # absent on Windows
        if uname is not None:
            _node = uname().nodename
        else:
            import platform

            _node = platform.node()
    return os.environ.get("CACHEWORK_HOST") or _node


#: Where ``/proc/<pid>/stat``'s fields after the command name hold the process's state
#: (``Z``: a zombie) and its start time (``man 5 proc``: fields 3 and 22).
_STATE, _START = 0, 19


def _proc_stat(pid: int) -> list[bytes] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name, or None without /proc."""
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; fields after it do not.
    return stat[stat.rindex(b")") + 2 :].split()


def process_start(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot on Linux, a FILETIME on Windows): tells
    a live owner from a reused pid. None where the platform does not say."""
    if sys.platform == "win32":
        return _win_process_start(pid)
    fields = _proc_stat(pid)
    return None if fields is None else fields[_START].decode()


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
    if not _pid_exists(pid):
        return False
    if start is None:
        return True
    if sys.platform == "win32":
        now = _win_process_start(pid)
        return now is None or now == start
    fields = _proc_stat(pid)  # read once: the start time and the state of one moment
    if fields is None:
        return True  # no /proc here: the pid alone has to do
    return fields[_START].decode() == start and fields[_STATE] != b"Z"


if sys.platform == "win32":
    import ctypes
    from ctypes import wintypes

    _kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    _kernel32.OpenProcess.restype = wintypes.HANDLE
    _kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    _QUERY_LIMITED = 0x1000  # PROCESS_QUERY_LIMITED_INFORMATION
    _ACCESS_DENIED = 5  # ERROR_ACCESS_DENIED: the process exists, it is someone else's
    _STILL_ACTIVE = 259

    def _pid_exists(pid: int) -> bool:
        # Never os.kill(pid, 0) here: on Windows it terminates the process.
        handle = _kernel32.OpenProcess(_QUERY_LIMITED, False, pid)
        if not handle:
            return ctypes.get_last_error() == _ACCESS_DENIED
        try:
            code = wintypes.DWORD()
            if not _kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
                return True
            return code.value == _STILL_ACTIVE
        finally:
            _kernel32.CloseHandle(handle)

    def _win_process_start(pid: int) -> str | None:
        handle = _kernel32.OpenProcess(_QUERY_LIMITED, False, pid)
        if not handle:
            return None
        try:
            times = [wintypes.FILETIME() for _ in range(4)]
            if not _kernel32.GetProcessTimes(handle, *map(ctypes.byref, times)):
                return None
            created = times[0]
            return str(created.dwHighDateTime << 32 | created.dwLowDateTime)
        finally:
            _kernel32.CloseHandle(handle)

else:

    def _pid_exists(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # another user's process: it exists
        return True

    def _win_process_start(pid: int) -> str | None:
        return None

"""``parallel=True``: where a call that missed runs, so that ``run`` returns a Future at once.

The work answers a hit itself, before anything here is used: a pool (of threads, of
processes, or a cluster's) only ever receives a call that has to run. This module owns the
default thread pool, and the trip of a call to another process: there and back by pickle.
"""

from __future__ import annotations

import concurrent.futures as _cf
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["answered", "executor", "shares_memory", "submit_elsewhere"]

T = TypeVar("T")
R = TypeVar("R")

_default: _cf.ThreadPoolExecutor | None = None
_lock = threading.Lock()


def executor(given: _cf.Executor | None) -> _cf.Executor:
    """``given``, else one thread pool that every work without an executor shares."""
    global _default
    if given is not None:
        return given
    with _lock:
        if _default is None:
            _default = _cf.ThreadPoolExecutor(thread_name_prefix="cachework")
        return _default


def shares_memory(executor: _cf.Executor) -> bool:
    """Whether a call submitted to ``executor`` runs in this process, on the work itself."""
    return isinstance(executor, _cf.ThreadPoolExecutor)


def answered(value: T) -> _cf.Future[T]:
    """A Future that is already done: a call answered without running (a hit)."""
    future: _cf.Future[T] = _cf.Future()
    future.set_result(value)
    return future


def submit_elsewhere(
    executor: _cf.Executor,
    call: Callable[[], T],
    land: Callable[[_cf.Future[T]], R],
    parts: Callable[[], dict[str, object]],
    what: str,
) -> _cf.Future[R]:
    """Run ``call`` in another process (or machine): it travels by cloudpickle, and
    ``land`` turns the finished remote Future, here, into the result (or raises).

    A call that cannot be pickled is refused before anything is submitted, naming which of
    its ``parts`` (name -> value) could not be.
    """
    import cloudpickle

    try:
        payload = cloudpickle.dumps(call)
    except Exception as e:
        raise TypeError(
            f"{what}: cannot send this call to {type(executor).__name__}, which runs "
            f"it in another process: {_unpicklable(parts())} "
            f"cannot be pickled ({e}); use a thread executor (the default) instead"
        ) from e
    remote = executor.submit(_run_pickled, payload)
    future: _cf.Future[R] = _cf.Future()

    def _done(f: _cf.Future[T]) -> None:
        try:
            value = land(f)
        except BaseException as e:
            future.set_exception(e)
            return
        future.set_result(value)

    remote.add_done_callback(_done)
    return future


def _unpicklable(parts: dict[str, object]) -> str:
    """Which parts of a call could not be pickled."""
    import cloudpickle

    bad = []
    for name, value in parts.items():
        try:
            cloudpickle.dumps(value)
        except Exception:
            bad.append(name)
    return ", ".join(bad) or "the work"


def _run_pickled(payload: bytes) -> Any:
    """What the other process runs: the call, unpickled. Its value is the call's ``T``,
    which the trip through pickle hides from the type checker."""
    import pickle

    return pickle.loads(payload)()

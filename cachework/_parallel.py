"""``parallel=True``: a call runs in the background and ``run`` returns a Future at once."""

from __future__ import annotations

import concurrent.futures as _cf
import threading
from typing import Any

_default: _cf.ThreadPoolExecutor | None = None
_lock = threading.Lock()


def _executor(work: Any) -> _cf.Executor:
    global _default
    if work.executor is not None:
        return work.executor
    with _lock:
        if _default is None:
            _default = _cf.ThreadPoolExecutor(thread_name_prefix="cachework")
        return _default


def _call_elsewhere(work: Any, raw: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """What runs in another process: the same claim, cache and history semantics."""
    return work._cw_execute(raw, args, kwargs)


def submit(work: Any, raw: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _cf.Future[Any]:
    executor = _executor(work)
    if isinstance(executor, _cf.ThreadPoolExecutor):
        future = executor.submit(work._cw_execute, raw, args, kwargs)
    else:
        # Another process (or machine) runs the call: ship everything by cloudpickle, then
        # copy the outcome back onto this work, since the remote copy is not this object.
        import cloudpickle

        try:
            payload = cloudpickle.dumps((work, raw, args, kwargs))
        except Exception as e:
            raise TypeError(
                f"{work.name}: cannot send this call to {type(executor).__name__}, which runs "
                f"it in another process: {_unpicklable(work, args, kwargs)} "
                f"cannot be pickled ({e}); use a thread executor (the default) instead"
            ) from e
        remote = executor.submit(_run_pickled, payload)
        future = _cf.Future()

        def _done(f: _cf.Future[Any]) -> None:
            try:
                value, state, status = f.result()
            except BaseException as e:
                work._cw_status = "failed"
                future.set_exception(e)
                return
            if state:
                work.__dict__.update(state)
            work._cw_status = status
            future.set_result(value)

        work._cw_status = "running"
        remote.add_done_callback(_done)
    return future


def _unpicklable(work: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """Which part of a call could not be pickled, named the way its author wrote it."""
    import cloudpickle

    parts = {f"attribute {k!r}": v for k, v in work.__getstate__().items()}
    parts.update({f"argument {i}": v for i, v in enumerate(args)})
    parts.update({f"argument {k!r}": v for k, v in kwargs.items()})
    bad = []
    for name, value in parts.items():
        try:
            cloudpickle.dumps(value)
        except Exception:
            bad.append(name)
    return ", ".join(bad) or "the work"


def _run_pickled(payload: bytes) -> tuple[Any, Any, str]:
    import pickle

    work, raw, args, kwargs = pickle.loads(payload)
    work._cw_options = work._cw_options._replace(parallel=False)
    value = work._cw_execute(raw, args, kwargs)
    return value, work._state(), work._cw_status

"""How results and state become bytes and back: the one module that pickles them.

Everything is written with plain pickle where it can (several times faster) and
cloudpickle where it must; both load with ``pickle.loads``, so a hit needs no cloudpickle.
"""

from __future__ import annotations

import pickle

from ._errors import UnstorableResult
from ._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

__all__ = ["dumps", "loads", "pack"]

#: A stored result or state, loaded (a hit). Plain pickle reads what cloudpickle wrote.
loads = pickle.loads


def dumps(value: Any) -> bytes:
    """Plain pickle where it can, cloudpickle for what it cannot: lambdas, local classes,
    functions defined in ``__main__``."""
    try:
        data = pickle.dumps(value, protocol=5)
        if b"__main__" not in data:  # a class of the running script: only cloudpickle carries it
            return data
    except Exception:
        pass
    import cloudpickle

    return cloudpickle.dumps(value, protocol=5)


def pack(
    name: str, value: Any, state: dict[str, Any] | None, limit: int
) -> tuple[bytes, bytes | None]:
    """The result and the state of a run of work ``name`` as stored; UnstorableResult names
    what could not be pickled, or a result over ``limit`` bytes (``max_result_bytes``)."""
    try:
        result = dumps(value)
    except Exception as e:
        raise UnstorableResult(
            f"{name}: cannot store a return value of type {type(value).__qualname__}: {e}"
        ) from e
    if len(result) > limit:
        raise UnstorableResult(
            f"{name}: the return value is {len(result):,} bytes, over max_result_bytes ({limit:,})"
        )
    if not state:
        return result, None
    try:
        packed = dumps(state)
    except Exception as e:
        names = ", ".join(sorted(state))
        raise UnstorableResult(f"{name}: cannot store the work state ({names}): {e}") from e
    return result, packed

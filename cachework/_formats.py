"""What the store writes in a form SQL does not type for it, each spelled once: SQLite's
time text and the name of Alembic's version table. Standard library only: a SQLite store
opens and hits without SQLAlchemy, and reads both."""

from __future__ import annotations

import datetime as _dt
import time

from ._typing import overload

#: On SQLite, times are UTC ISO-8601 text (``2026-11-25T14:03:07.123456Z``): text order is
#: time order and ``date(started_at)`` works. ``schema.Timestamp`` reads and writes it too.
SQLITE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
#: The same to the whole second (a period step's label). The fraction ("%f") of a stored
#: time is formatted by hand: ``utc_text`` puts it between this and the rest.
WHOLE_SECOND_FORMAT, _, _AFTER_FRACTION = SQLITE_TIME_FORMAT.partition(".%f")

#: Alembic's table of the schema revision (``alembic_version`` would clash in a shared database).
VERSION_TABLE = "cachework_alembic_version"

_second: tuple[int, str] = (-1, "")


def utc_text(t: float | None = None) -> str:
    """``t`` (default: now) as SQLite's time text.

    Every miss stamps two times; formatting the whole second once per second saves most of it.
    """
    global _second
    if t is None:
        t = time.time()
    whole = int(t // 1)
    cached = _second  # one read: another thread may replace it meanwhile
    if cached[0] != whole:
        cached = _second = (whole, time.strftime(WHOLE_SECOND_FORMAT, time.gmtime(whole)))
    return f"{cached[1]}.{int((t - whole) * 1_000_000):06d}{_AFTER_FRACTION}"


def parse_utc(text: str) -> _dt.datetime:
    """ISO-8601 text as a datetime; a trailing ``Z`` (which ``fromisoformat`` takes only from
    Python 3.11) reads as UTC. A time without a zone stays naive: the caller decides."""
    return _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@overload
def as_utc(value: None) -> None: ...
@overload
def as_utc(value: str | _dt.datetime) -> _dt.datetime: ...
def as_utc(value: str | _dt.datetime | None) -> _dt.datetime | None:
    """A stored time (SQLite's text, a datetime) or a given one as an aware UTC datetime;
    a time without a zone is UTC, as every stored time is."""
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_utc(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=_dt.timezone.utc)  # stored times are UTC
    # SQLite stores the wall-clock fields as text: compare in UTC, whatever zone was given.
    return value.astimezone(_dt.timezone.utc)


@overload
def storable(text: str) -> str: ...
@overload
def storable(text: None) -> None: ...
def storable(text: str | None) -> str | None:
    """``text`` as every database can store it: a lone surrogate (``os.fsdecode`` of bytes
    that are not UTF-8) and NUL (refused by PostgreSQL's text) become readable escapes,
    ``\\udce9`` and ``\\x00``. Anything else is kept as it is."""
    if text is None:
        return None
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text

"""Where a store is: a URL, a path or nothing becomes one SQLAlchemy URL, and the URL
becomes what messages show (never its password) and, for SQLite, the file behind it."""

from __future__ import annotations

import os
import re

from ._errors import StoreError

DEFAULT_URL = "sqlite:///cachework.db"
#: The databases a store can live in (a URL's scheme, before any ``+driver``).
_DIALECTS = ("sqlite", "postgresql")

#: A URL's password: after ``user:`` up to the last ``@`` (SQLAlchemy stops at the first,
#: RFC 3986 at the last: masking to the last hides the secret under either reading), and
#: any ``password=``-like option in the query (libpq takes ``?password=`` too). Compiled by
#: ``re`` (and kept in its cache) at the first URL that has an ``@`` or a ``=``: a store's
#: file path has neither, and a cold start would pay ~2 M instructions to compile them.
_URL_PASSWORD = r"^([\w+]+://[^:/]*:).*@"
_QUERY_PASSWORD = r"(?i)([?&][^=&]*password=)[^&]*"
#: Why a store is never in memory: it must outlive the process, and be one database for
#: every connection, thread and process that uses it (an in-memory one is per connection).
_IN_MEMORY = (
    "store {shown}: an in-memory SQLite store is not supported: a store outlives the "
    "process and is shared by its threads and other processes, which an in-memory database "
    "cannot be; use a file path (a temporary folder's file for a throwaway cache)"
)


def mask_url(url: str) -> str:
    """The URL as every message, log line and repr shows it: its password replaced by ***."""
    if "@" in url:
        url = re.sub(_URL_PASSWORD, r"\1***@", url, count=1)
    if "=" in url:
        url = re.sub(_QUERY_PASSWORD, r"\1***", url)
    return url


def resolve_url(spec: str | os.PathLike[str] | None = None) -> str:
    """A SQLAlchemy URL from a URL, a path, or nothing (``CACHEWORK_URL``, else ``cachework.db``)."""
    if spec is None:
        spec = os.environ.get("CACHEWORK_URL") or DEFAULT_URL
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise StoreError(f"store must be a URL or a file path, not {spec!r}")
    if "://" in spec:
        # Errors name the scheme only: the rest of a URL may hold a password.
        scheme, _, rest = spec.partition("://")
        dialect, _, driver = scheme.partition("+")
        if dialect not in _DIALECTS:
            raise StoreError(
                f"store URL must start with sqlite:// or postgresql:// (cachework keeps its "
                f"tables in SQLite or PostgreSQL), not {scheme}://"
            )
        if dialect == "postgresql":
            if driver not in ("", "psycopg"):
                raise StoreError(
                    f"cachework talks to PostgreSQL through psycopg 3: write "
                    f"postgresql+psycopg:// or postgresql://, not {scheme}://"
                )
            # Spelled out: SQLAlchemy 2.0 would pick psycopg2 for a bare postgresql://.
            return f"postgresql+psycopg://{rest}"
        return spec
    if spec == ":memory:":  # SQLite's own name for it; as a path it would be a file's name
        raise StoreError(_IN_MEMORY.format(shown=spec))
    return "sqlite:///" + _quote_path(os.path.abspath(os.path.expanduser(spec)))


def _quote_path(path: str) -> str:
    """A file path as the database part of a URL. SQLAlchemy ends that part at the first
    ``?`` and decodes ``%XX``; ``#`` starts a fragment in any other URL reader. Nothing else
    is escaped, so an ordinary path reads the same in the URL."""
    return path.replace("%", "%25").replace("?", "%3F").replace("#", "%23")


def sqlite_path(url: str) -> str | None:
    """The file behind a ``sqlite:///`` URL, or None for any other database.

    Read exactly as SQLAlchemy's ``make_url`` reads the database part (up to the first
    ``?``, ``%XX`` decoded), so this file and the one migrations and reports open are one.
    """
    scheme, _, rest = url.partition("://")
    if scheme.split("+")[0] != "sqlite":
        return None
    rest, sep, options = rest.partition("?")
    if sep:
        # Ignoring it would open another file than meant when the '?' was part of a name.
        raise StoreError(
            f"store {mask_url(url)}: cachework takes no options in a SQLite URL (?{options}); "
            "write a '?' in a file name as %3F, or give the store as a path"
        )
    path = rest[1:] if rest.startswith("/") else rest
    if "%" in path:  # unquote changes nothing else; urllib.parse costs a cold start ~2 ms
        from urllib.parse import unquote

        path = unquote(path, errors="surrogateescape")
    if "\x00" in path:
        shown = mask_url(url).replace("\x00", "\\x00")
        raise StoreError(f"store {shown}: a file path cannot hold a NUL character (\\x00)")
    if path in ("", ":memory:"):
        raise StoreError(_IN_MEMORY.format(shown=mask_url(url)))
    return os.path.abspath(os.path.expanduser(path))


def sqlite_uri(path: str, options: str) -> str:
    """A ``file:`` URI for SQLite naming exactly ``path``: ``?``, ``#`` and ``%`` in a file
    name would otherwise start the URI's query or fragment, or be decoded."""
    from urllib.parse import quote

    return f"file://{quote(os.fsencode(os.path.abspath(path)), safe='/')}?{options}"

"""Which database errors mean the database cannot be reached or used now (503, retry later),
as opposed to a statement that is wrong (500, a bug)."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

# SQLite errors of a database that is there but cannot be used now.
_SQLITE_UNAVAILABLE = ("database is locked", "unable to open database", "disk i/o error")
# PostgreSQL SQLSTATE classes and codes of a server that cannot serve: connection exceptions,
# too many connections, shutting down or starting up.
_PG_UNAVAILABLE_CLASSES = ("08", "53")
_PG_UNAVAILABLE_CODES = frozenset({"57P01", "57P02", "57P03"})
_PG_UNDEFINED = frozenset({"42P01", "42703"})  # undefined table, undefined column
_SQLITE_UNDEFINED = ("no such table", "no such column", "has no column named")


def is_unavailable(error: BaseException) -> bool:
    if isinstance(error, TimeoutError | sa_exc.TimeoutError | OSError | sa_exc.DisconnectionError):
        return True
    if not isinstance(error, sa_exc.DBAPIError):
        return False
    if error.connection_invalidated or isinstance(error, sa_exc.InterfaceError):
        return True
    state = sqlstate(error)
    if state is not None:
        return state[:2] in _PG_UNAVAILABLE_CLASSES or state in _PG_UNAVAILABLE_CODES
    if isinstance(error, sa_exc.OperationalError):
        message = str(error.orig).lower()
        return any(reason in message for reason in _SQLITE_UNAVAILABLE)
    return False


def is_schema_missing(error: BaseException) -> bool:
    """A table or column the statement needs is not there: a database never migrated, or
    migrated by an older release (a 503 naming the cause, as readiness does; not a bug)."""
    if not isinstance(error, sa_exc.DBAPIError):
        return False
    if sqlstate(error) in _PG_UNDEFINED:
        return True
    message = str(error.orig).lower()
    missing = any(reason in message for reason in _SQLITE_UNDEFINED)
    return isinstance(error, sa_exc.OperationalError) and missing


def sqlstate(error: sa_exc.DBAPIError) -> str | None:
    """PostgreSQL's SQLSTATE of a driver error (asyncpg's, under SQLAlchemy's adapter)."""
    cause = error.orig
    state = getattr(cause, "sqlstate", None) or getattr(
        getattr(cause, "__cause__", None), "sqlstate", None
    )
    return state if isinstance(state, str) else None


def explain(error: BaseException, database_url: str) -> str | None:
    """What an operator is told when the database of DATABASE_URL cannot be used at all (at
    start-up), in one line that names the variable and the fix; None for other errors."""
    url = make_url(database_url)
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    state = sqlstate(error) if isinstance(error, sa_exc.DBAPIError) else None
    if state == "3D000":
        return (
            f"DATABASE_URL names database {url.database!r}, which does not exist on {where}: "
            f"create it (createdb {url.database}), or point DATABASE_URL at one that does"
        )
    if state in ("28P01", "28000"):
        return (
            f"the PostgreSQL server at {where} refused user {url.username!r}: "
            "check the user and password in DATABASE_URL"
        )
    if url.get_backend_name() == "sqlite" and _cannot_open(error):
        return _cannot_open_file(url.database)
    if is_unavailable(error):
        return f"cannot reach the database at {where} (DATABASE_URL): {reason(error)}"
    return None


def sqlite_file_problem(database_url: str) -> str | None:
    """Why the SQLite file of DATABASE_URL cannot be opened, checked before anything opens it
    (aiosqlite's thread outlives a failed open and prints its own traceback at exit)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    folder = Path(url.database).resolve().parent
    if folder.is_dir() and os.access(folder, os.W_OK):
        return None
    return _cannot_open_file(url.database)


def _cannot_open_file(path: str | None) -> str:
    return (
        f"DATABASE_URL: cannot open the SQLite file {path!r}: "
        "does its folder exist, and may Roster write there?"
    )


def _cannot_open(error: BaseException) -> bool:
    return isinstance(error, sa_exc.OperationalError) and "unable to open" in str(error.orig)


def reason(error: BaseException) -> str:
    """The first line of what the driver said (or the error's type): for one-line messages."""
    cause = error.orig if isinstance(error, sa_exc.DBAPIError) else error
    return str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__

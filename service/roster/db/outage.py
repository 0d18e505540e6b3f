"""Which database errors mean the database cannot be reached or used now (503, retry later),
as opposed to a statement that is wrong (500, a bug)."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

# SQLite errors of a database that is there but cannot be used now.
_SQLITE_UNAVAILABLE = ("database is locked", "unable to open database", "disk i/o error")
# PostgreSQL SQLSTATE classes and codes of a server that cannot serve: connection exceptions,
# too many connections, shutting down or starting up.
_PG_UNAVAILABLE_CLASSES = ("08", "53")
_PG_UNAVAILABLE_CODES = frozenset({"57P01", "57P02", "57P03"})


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


def sqlstate(error: sa_exc.DBAPIError) -> str | None:
    """PostgreSQL's SQLSTATE of a driver error (asyncpg's, under SQLAlchemy's adapter)."""
    cause = error.orig
    state = getattr(cause, "sqlstate", None) or getattr(
        getattr(cause, "__cause__", None), "sqlstate", None
    )
    return state if isinstance(state, str) else None

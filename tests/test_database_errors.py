"""Which database errors are an outage (503 with Retry-After) and which are bugs (500)."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import exc as sa_exc

from roster.db.outage import is_unavailable


class PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def wrapped(kind: type[sa_exc.DBAPIError], cause: Exception) -> sa_exc.DBAPIError:
    return kind("SELECT 1", {}, cause)


@pytest.mark.parametrize(
    "error",
    [
        TimeoutError(),
        ConnectionRefusedError(),
        sa_exc.TimeoutError("QueuePool limit reached"),
        wrapped(sa_exc.OperationalError, sqlite3.OperationalError("database is locked")),
        wrapped(sa_exc.OperationalError, sqlite3.OperationalError("unable to open database file")),
        wrapped(sa_exc.InterfaceError, Exception("connection is closed")),
        wrapped(sa_exc.DBAPIError, PgError("08006")),  # connection failure
        wrapped(sa_exc.DBAPIError, PgError("53300")),  # too many connections
        wrapped(sa_exc.DBAPIError, PgError("57P01")),  # admin shutdown
    ],
    ids=repr,
)
def test_an_unreachable_or_overloaded_database_is_unavailable(error: BaseException) -> None:
    assert is_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        wrapped(sa_exc.OperationalError, sqlite3.OperationalError("no such table: users")),
        wrapped(sa_exc.ProgrammingError, PgError("42P01")),  # undefined table
        wrapped(sa_exc.IntegrityError, PgError("23505")),
        wrapped(sa_exc.DataError, PgError("22001")),
        ValueError("a bug"),
        KeyError("another"),
    ],
    ids=repr,
)
def test_other_errors_are_bugs(error: BaseException) -> None:
    assert not is_unavailable(error)

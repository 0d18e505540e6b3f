"""SQLite specifics: the pragmas of every connection, its Unicode `lower()`, and the threads
that run SQLite units of work whole (a few readers, one writer)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import create_engine, event, make_url
from sqlalchemy.engine import Connection, Engine

from ..settings import Settings

T = TypeVar("T")


def configure(engine: Engine, busy_timeout_ms: int, immediate: bool = False) -> None:
    """Pragmas on every connection; with `immediate`, transactions begin `BEGIN IMMEDIATE`."""

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions begin below, not in the driver
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        # SQLite's own lower() folds ASCII only; case-insensitive search needs Unicode.
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)

    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # On a DBAPI cursor: `exec_driver_sql` costs more than the statement itself.
        cursor = connection.connection.cursor()
        cursor.execute(begin)
        cursor.close()


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


class Threads:
    """Threads that each own a pooled synchronous connection to the SQLite file.

    A unit of work runs whole on one of them (a hop to a thread per unit, not per statement);
    with `immediate`, as writes, one at a time and `BEGIN IMMEDIATE`, so writers queue here
    and other processes' writers wait on the busy timeout instead of failing.
    """

    def __init__(
        self, settings: Settings, threads: int, name: str, immediate: bool = False
    ) -> None:
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix=name)
        self.engine = create_engine(
            make_url(settings.database_url).set(drivername="sqlite"),
            pool_size=threads,
            max_overflow=0,
            connect_args={"check_same_thread": False},
        )
        configure(self.engine, settings.db_busy_timeout_ms, immediate)

    async def run(self, job: Callable[[Engine], T]) -> T:
        """`job(engine)` on one of the threads."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, job, self.engine)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self.engine.dispose()

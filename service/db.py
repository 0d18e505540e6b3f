"""The database: engines per backend, and the two ways work reaches it — `read` and `write`.

A unit of work is a plain function of a synchronous SQLAlchemy `Session` (or `Connection` for
reads) that commits explicitly. `Database` runs it whole, in one step:

- SQLite: on threads with connections of their own — a few readers, and ONE writer whose
  transactions begin `BEGIN IMMEDIATE`, so writes in a process queue on that thread, and writes
  from other processes wait on the busy timeout instead of failing with "database is locked".
  (Profiling showed aiosqlite's hop to its thread and back on every cursor call dominating: a
  write transaction made ~15 of them, and writes are serial.)
- PostgreSQL: `run_sync` on an `AsyncSession`/`AsyncConnection` over asyncpg.

Every SQLite connection gets WAL, a busy timeout, foreign keys and a Unicode `lower()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import event, make_url, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from .settings import Settings

READER_THREADS = 4
T = TypeVar("T")


def create_engine(settings: Settings) -> AsyncEngine:
    """The async engine: PostgreSQL's work, SQLite's migrations and readiness checks."""
    if settings.is_sqlite:
        engine = create_async_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout,
            connect_args={"timeout": settings.db_busy_timeout_ms / 1000},
        )
        _configure_sqlite(engine.sync_engine, settings.db_busy_timeout_ms)
        return engine
    return create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_pre_ping=True,
        connect_args={"timeout": settings.db_connect_timeout},
    )


def _configure_sqlite(engine: Engine, busy_timeout_ms: int, immediate: bool = False) -> None:
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


class Database:
    """Runs units of work: `await db.read(fn, *args)`, `await db.write(fn, *args)`."""

    def __init__(self, settings: Settings) -> None:
        self.engine = create_engine(settings)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._readers: _SqliteThreads | None = None
        self._writer: _SqliteThreads | None = None
        if settings.is_sqlite:
            self._readers = _SqliteThreads(settings, READER_THREADS, "sqlite-read")
            self._writer = _SqliteThreads(settings, 1, "sqlite-write", immediate=True)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(connection, *args)`: queries only; sees everything committed before it."""
        if self._readers is not None:
            return await self._readers.run(_on_connection, fn, *args)
        async with self.engine.connect() as connection:
            return await connection.run_sync(fn, *args)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(session, *args)` in a transaction of its own; it commits explicitly.

        Whatever it leaves uncommitted (an exception, say) is rolled back.
        """
        if self._writer is not None:
            return await self._writer.run(_in_session, fn, *args)
        async with self.sessions() as session:
            return await session.run_sync(fn, *args)

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def close(self) -> None:
        for threads in (self._readers, self._writer):
            if threads is not None:
                threads.close()
        await self.engine.dispose()


class _SqliteThreads:
    """Threads that each own a pooled synchronous connection to the SQLite file."""

    def __init__(
        self, settings: Settings, threads: int, name: str, immediate: bool = False
    ) -> None:
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix=name)
        self.engine = create_sync_engine(
            make_url(settings.database_url).set(drivername="sqlite"),
            pool_size=threads,
            max_overflow=0,
            connect_args={"check_same_thread": False},
        )
        _configure_sqlite(self.engine, settings.db_busy_timeout_ms, immediate)

    async def run(self, runner: Callable[..., T], fn: Callable[..., Any], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, runner, self.engine, fn, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self.engine.dispose()


def _on_connection(engine: Engine, fn: Callable[..., T], *args: Any) -> T:
    with engine.connect() as connection:
        return fn(connection, *args)


def _in_session(engine: Engine, fn: Callable[..., T], *args: Any) -> T:
    with Session(engine, expire_on_commit=False) as session:
        return fn(session, *args)

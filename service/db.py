"""The database: engine set-up per backend, and the per-request session with write transactions.

On SQLite every connection gets WAL, a busy timeout and foreign keys; reads begin a deferred
transaction and writes `BEGIN IMMEDIATE`, taken one at a time per process, so a transaction that
reads then writes never meets "database is locked" without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import event, make_url, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from .settings import Settings

_IMMEDIATE = "sqlite_begin_immediate"
READER_THREADS = 4
T = TypeVar("T")
_WRITE_LOCK = "write_lock"


def create_engine(settings: Settings) -> AsyncEngine:
    if settings.is_sqlite:
        return _sqlite_engine(settings)
    return create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_pre_ping=True,
        connect_args={"timeout": settings.db_connect_timeout},
    )


def _sqlite_engine(settings: Settings) -> AsyncEngine:
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        connect_args={"timeout": settings.db_busy_timeout_ms / 1000},
    )
    _configure_sqlite_connections(engine.sync_engine, settings.db_busy_timeout_ms)

    @event.listens_for(engine.sync_engine, "connect")
    def _own_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _configure_sqlite_connections(engine: Engine, busy_timeout_ms: int) -> None:
    """WAL, a busy timeout and foreign keys on every connection the engine opens."""

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        # SQLite's own lower() folds ASCII only; case-insensitive search needs Unicode.
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def create_session_factory(
    engine: AsyncEngine, settings: Settings
) -> async_sessionmaker[AsyncSession]:
    write_lock: asyncio.Lock | None = asyncio.Lock() if settings.is_sqlite else None
    return async_sessionmaker(engine, expire_on_commit=False, info={_WRITE_LOCK: write_lock})


@contextlib.asynccontextmanager
async def writing(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """A write transaction: ends any read transaction, then begins one that may write.

    The caller commits explicitly; anything left uncommitted is rolled back on exit.
    """
    if session.in_transaction():
        await session.commit()
    lock: asyncio.Lock | None = session.info.get(_WRITE_LOCK)
    async with lock or contextlib.nullcontext():
        try:
            await session.connection(execution_options={_IMMEDIATE: True})
            yield session
        finally:
            if session.in_transaction():
                await session.rollback()


class Reader:
    """Runs a read-only query function (`fn(connection, *args)`) in one step.

    On PostgreSQL that is `run_sync` over the async engine. On SQLite each call through aiosqlite
    is a hop to a thread and back, and a query is several calls; so reads run whole on a few
    reader threads with connections of their own (WAL: readers never wait for the writer).
    """

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self._engine = engine
        self._threads: ThreadPoolExecutor | None = None
        self._sync_engine: Engine | None = None
        if settings.is_sqlite:
            self._threads = ThreadPoolExecutor(READER_THREADS, thread_name_prefix="sqlite-read")
            url = make_url(settings.database_url).set(drivername="sqlite")
            self._sync_engine = create_sync_engine(
                url,
                pool_size=READER_THREADS,
                max_overflow=0,
                connect_args={"check_same_thread": False},
            )
            _configure_sqlite_connections(self._sync_engine, settings.db_busy_timeout_ms)

    async def __call__(self, fn: Callable[..., T], *args: Any) -> T:
        if self._threads is None:
            async with self._engine.connect() as connection:
                return await connection.run_sync(fn, *args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self._run, fn, *args)

    def _run(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._sync_engine is not None
        with self._sync_engine.connect() as connection:
            return fn(connection, *args)

    def close(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=True, cancel_futures=True)
        if self._sync_engine is not None:
            self._sync_engine.dispose()


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))

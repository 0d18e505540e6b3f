"""The database: engine set-up per backend, and the per-request session with write transactions.

On SQLite every connection gets WAL, a busy timeout and foreign keys; reads begin a deferred
transaction and writes `BEGIN IMMEDIATE`, taken one at a time per process, so a transaction that
reads then writes never meets "database is locked" without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from .settings import Settings

_IMMEDIATE = "sqlite_begin_immediate"
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
    busy_timeout_ms = settings.db_busy_timeout_ms

    @event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        # SQLite's own lower() folds ASCII only; case-insensitive search needs Unicode.
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


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


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))

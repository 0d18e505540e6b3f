"""The database: an engine per backend, and the two ways work reaches it, `read` and `write`.

A unit of work is a plain function of a synchronous SQLAlchemy `Connection` (reads) or
`Session` (writes, which commit explicitly), run whole, in one step: on SQLite on threads of its
own (`sqlite.Threads`), on PostgreSQL through `run_sync` over asyncpg.

A unit of work never sees the request that asked for it: it runs on a SQLite thread, or, on
PostgreSQL, in a context of its own, so `quart.request` and `g` are out of its reach on both
backends alike. Whatever a unit needs from the request is an argument.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from ..errors import QueryTooExpensive
from ..serving.draining import WorkGate
from ..serving.metrics import Metrics
from ..settings import Settings
from . import sqlite
from .outage import sqlstate as _sqlstate

READER_THREADS = 4
BOUNDED_NICENESS = 10  # the costly-read lane yields the CPU to requests that are cheap
QUICK_MS = 100  # a costly read that takes longer moves to the lane
QUERY_CANCELED = "57014"  # PostgreSQL: statement_timeout
T = TypeVar("T")
P = ParamSpec("P")


def create_engine(
    settings: Settings,
    budget_ms: int | None = None,
    connections: int | None = None,
    reads: bool = False,
) -> AsyncEngine:
    """The async engine: PostgreSQL's work, SQLite's migrations and tools. With `reads`, one
    for PostgreSQL's reads: autocommit and no ping at checkout, so a read is its statements
    and nothing else (no BEGIN, no ROLLBACK, no ping); a dead pooled connection is retried
    instead (`Database`). With `budget_ms` and `connections` too, an engine for costly
    reads whose statements stop after that long: the quick attempt, or the lane."""
    if settings.is_sqlite:
        engine = create_async_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout,
            connect_args={"timeout": settings.db_busy_timeout_ms / 1000},
        )
        sqlite.configure(engine.sync_engine, settings.db_busy_timeout_ms)
        return engine
    # Every wait is bounded: connecting, and each statement (a network that drops packets
    # would otherwise hold a request for as long as the partition lasts).
    connect_args: dict[str, Any] = {
        "timeout": settings.db_connect_timeout,
        "command_timeout": settings.db_command_timeout,
    }
    pool_size, max_overflow = settings.db_pool_size, settings.db_max_overflow
    if budget_ms is not None:
        # One costly read takes one core at most: no parallel workers beside it.
        connect_args["server_settings"] = {
            "statement_timeout": str(budget_ms),
            "max_parallel_workers_per_gather": "0",
        }
        pool_size, max_overflow = connections or 1, 0
    if reads:
        return create_async_engine(
            settings.database_url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=settings.db_pool_timeout,
            isolation_level="AUTOCOMMIT",
            pool_reset_on_return=None,
            connect_args=connect_args,
        )
    return create_async_engine(
        settings.database_url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_pre_ping=True,
        connect_args=connect_args,
    )


class Database:
    """Runs units of work: `await db.read(fn, *args)`, `await db.write(fn, *args)`."""

    def __init__(
        self, settings: Settings, metrics: Metrics | None = None, gate: WorkGate | None = None
    ) -> None:
        self.engine = create_engine(settings)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._metrics = metrics or Metrics()
        self._gate = gate or WorkGate(settings.retry_after_seconds)
        self._readers: sqlite.Threads | None = None
        self._writer: sqlite.Threads | None = None
        self._bounded: sqlite.Threads | None = None
        self.read_engine: AsyncEngine | None = None
        self._quick_engine: AsyncEngine | None = None
        self._bounded_engine: AsyncEngine | None = None
        self._budget = settings.list_budget_ms / 1000
        self._quick_ms = min(QUICK_MS, settings.list_budget_ms)
        if settings.is_sqlite:
            self._readers = sqlite.Threads(
                settings, READER_THREADS, "sqlite-read", interruptible=True
            )
            self._writer = sqlite.Threads(settings, 1, "sqlite-write", immediate=True)
            self._bounded = sqlite.Threads(
                settings, 1, "sqlite-bounded", interruptible=True, niceness=BOUNDED_NICENESS
            )
            self._metrics.db_capacity("read", READER_THREADS)
            self._metrics.db_capacity("write", 1)
        else:
            pooled = settings.db_pool_size + settings.db_max_overflow
            self._metrics.db_capacity("connections", 2 * pooled)
            self.read_engine = create_engine(settings, reads=True)
            self._quick_engine = create_engine(settings, self._quick_ms, READER_THREADS, True)
            self._bounded_engine = create_engine(settings, settings.list_budget_ms, 1, True)

    async def read(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(connection, *args)`: queries only; sees everything committed before it."""
        self._gate.admit()

        def unit(connection: Connection) -> T:
            return fn(connection, *args, **kwargs)

        if self._readers is not None:
            return await self._readers.run(self._counted("read", _on_connection, unit))
        return await _apart(self._read_postgresql(unit))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def read_bounded(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """A read known to be costly (a scan, a deep page): on a lane of its own, one at a
        time per process and at a lower CPU priority on SQLite, so that it cannot take the
        readers from cheap requests; stopped at the list budget (`QueryTooExpensive`)."""
        self._gate.admit()

        def unit(connection: Connection) -> T:
            return fn(connection, *args, **kwargs)

        return await self._read_within(unit, quick=False)

    async def read_escalating(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """A read that is usually cheap but may not be (a search through the index): it runs
        as any read, stopped after QUICK_MS; one that needs longer starts again on the
        bounded lane (`read_bounded`)."""
        self._gate.admit()

        def unit(connection: Connection) -> T:
            return fn(connection, *args, **kwargs)

        try:
            return await self._read_within(unit, quick=True)
        except QueryTooExpensive:
            return await self._read_within(unit, quick=False)

    async def _read_within(self, unit: Callable[[Connection], T], quick: bool) -> T:
        if self._readers is not None and self._bounded is not None:
            threads = self._readers if quick else self._bounded
            budget = self._quick_ms / 1000 if quick else self._budget
            return await threads.run(self._counted("read", _on_connection, unit), budget)
        engine = self._quick_engine if quick else self._bounded_engine
        assert engine is not None
        try:
            return await _apart(self._read_postgresql(unit, engine))
        except sa_exc.DBAPIError as error:
            if _sqlstate(error) == QUERY_CANCELED:
                raise QueryTooExpensive() from error
            raise

    async def write(
        self, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(session, *args)` in a transaction of its own; it commits explicitly.

        Whatever it leaves uncommitted (an exception, say) is rolled back.
        """
        self._gate.admit()

        def unit(session: Session) -> T:
            return fn(session, *args, **kwargs)

        if self._writer is not None:
            return await self._writer.run(self._counted("write", _in_session, unit))
        return await _apart(self._write_postgresql(unit))

    async def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (None: never migrated), read the way
        requests read, so that it also proves the path requests take answers."""
        return await self.read(_schema_revision)

    async def close(self) -> None:
        for threads in (self._readers, self._writer, self._bounded):
            if threads is not None:
                threads.close()
        for engine in (self.read_engine, self._quick_engine, self._bounded_engine):
            if engine is not None:
                await engine.dispose()
        await self.engine.dispose()

    async def _read_postgresql(
        self, unit: Callable[[Connection], T], engine: AsyncEngine | None = None
    ) -> T:
        engine = engine or self.read_engine
        assert engine is not None
        try:
            return await self._read_on(engine, unit)
        except sa_exc.DBAPIError as error:
            if not error.connection_invalidated:
                raise
        # The pooled connection had died (a restart, a failover): nothing ran, so once more
        # on a new one (the pool drops the dead ones as it meets them).
        return await self._read_on(engine, unit)

    async def _read_on(self, engine: AsyncEngine, unit: Callable[[Connection], T]) -> T:
        async with engine.connect() as connection:
            with self._busy("read"):
                return await connection.run_sync(unit)

    async def _write_postgresql(self, unit: Callable[[Session], T]) -> T:
        async with self.sessions() as session:
            with self._busy("write"):
                return await session.run_sync(unit)

    @contextmanager
    def _busy(self, kind: str) -> Iterator[None]:
        self._metrics.db_busy(kind, 1)
        try:
            yield
        finally:
            self._metrics.db_busy(kind, -1)

    def _counted(
        self, kind: str, runner: Callable[[Engine, Callable[[Any], T]], T], unit: Callable[[Any], T]
    ) -> Callable[[Engine], T]:
        def job(engine: Engine) -> T:
            with self._busy(kind):
                return runner(engine, unit)

        return job


async def _apart(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` in an empty context: no request context reaches a unit of work."""
    return await asyncio.create_task(work, context=contextvars.Context())


def _on_connection(engine: Engine, unit: Callable[[Connection], T]) -> T:
    with engine.connect() as connection:
        return unit(connection)


def _in_session(engine: Engine, unit: Callable[[Session], T]) -> T:
    with Session(engine, expire_on_commit=False) as session:
        return unit(session)


def _schema_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    revision: str | None = connection.execute(
        text("SELECT version_num FROM alembic_version")
    ).scalar()
    return revision

"""PostgreSQL through asyncpg: units of work run through `run_sync` on pooled connections.

Reads run on an engine of their own in autocommit, without a ping at checkout or a reset on
return, so a read is its statements and nothing else (no BEGIN, no ROLLBACK, no ping); a dead
pooled connection is retried once instead. The quick and the bounded lanes are engines whose
statements stop after their time (`statement_timeout`).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from ..errors import QueryTooExpensive
from ..serving.draining import WorkGate
from ..serving.metrics import Metrics
from ..settings import Settings
from .database import Database, Lane, ReadUnit, WriteUnit
from .outage import sqlstate

QUICK_CONNECTIONS = 4
QUERY_CANCELED = "57014"  # statement_timeout
T = TypeVar("T")


class PostgreSQLDatabase(Database):
    """An engine for writes, one for reads, and one per costly-read lane."""

    dialect = "postgresql"

    def __init__(
        self, settings: Settings, metrics: Metrics | None = None, gate: WorkGate | None = None
    ) -> None:
        super().__init__(settings, metrics, gate)
        self._pooled = settings.db_pool_size + settings.db_max_overflow
        self.writes = engine(settings, pool_pre_ping=True)
        self._sessions = async_sessionmaker(self.writes, expire_on_commit=False)
        self.reads = reads_engine(settings)
        self._lanes = {
            Lane.QUICK: reads_engine(settings, round(self.quick_seconds * 1000), QUICK_CONNECTIONS),
            Lane.BOUNDED: reads_engine(settings, settings.list_budget_ms, 1),
        }

    @property
    def engines(self) -> tuple[AsyncEngine, ...]:
        return (self.writes, self.reads, *self._lanes.values())

    def capacity(self) -> dict[str, int]:
        return {"connections": 2 * self._pooled}

    async def _read(self, unit: ReadUnit[T], lane: Lane) -> T:
        if lane is Lane.NORMAL:
            return await _apart(self._read_retrying(self.reads, unit))
        try:
            return await _apart(self._read_retrying(self._lanes[lane], unit))
        except sa_exc.DBAPIError as error:
            if sqlstate(error) == QUERY_CANCELED:
                raise QueryTooExpensive() from error
            raise

    async def _write(self, unit: WriteUnit[T]) -> T:
        async def work() -> T:
            async with self._sessions() as session:
                with self.busy("write"):
                    return await session.run_sync(unit)

        return await _apart(work())

    async def close(self) -> None:
        for each in self.engines:
            await each.dispose()

    async def _read_retrying(self, engine: AsyncEngine, unit: ReadUnit[T]) -> T:
        try:
            return await self._read_on(engine, unit)
        except sa_exc.DBAPIError as error:
            if not error.connection_invalidated:
                raise
        # The pooled connection had died (a restart, a failover): nothing ran, so once more
        # on a new one (the pool drops the dead ones as it meets them).
        return await self._read_on(engine, unit)

    async def _read_on(self, engine: AsyncEngine, unit: ReadUnit[T]) -> T:
        async with engine.connect() as connection:
            with self.busy("read"):
                return await connection.run_sync(unit)


def connect_args(settings: Settings) -> dict[str, Any]:
    # Every wait is bounded: connecting, and each statement (a network that drops packets
    # would otherwise hold a request for as long as the partition lasts).
    return {"timeout": settings.db_connect_timeout, "command_timeout": settings.db_command_timeout}


def engine(settings: Settings, **options: Any) -> AsyncEngine:
    return create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        connect_args=connect_args(settings),
        **options,
    )


def reads_engine(
    settings: Settings, budget_ms: int | None = None, connections: int | None = None
) -> AsyncEngine:
    """Autocommit, no ping, no reset on return. With `budget_ms`, a lane for costly reads:
    `connections` of them, each statement stopped after `budget_ms`, and no parallel workers
    beside it (one costly read takes one core at most)."""
    args = connect_args(settings)
    pool: dict[str, Any] = {}
    if budget_ms is not None:
        args["server_settings"] = {
            "statement_timeout": str(budget_ms),
            "max_parallel_workers_per_gather": "0",
        }
        pool = {"pool_size": connections or 1, "max_overflow": 0}
    return create_async_engine(
        settings.database_url,
        **{
            "pool_size": settings.db_pool_size,
            "max_overflow": settings.db_max_overflow,
            **pool,
        },
        pool_timeout=settings.db_pool_timeout,
        isolation_level="AUTOCOMMIT",
        pool_reset_on_return=None,
        connect_args=args,
    )


async def _apart(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` in an empty context: no request context reaches a unit of work."""
    return await asyncio.create_task(work, context=contextvars.Context())

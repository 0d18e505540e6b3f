"""PostgreSQL through asyncpg: units of work run through `run_sync` on one pool of exactly
DB_CONNECTIONS connections per worker, shared by every kind of work, taken in turns.

- A read runs in autocommit: its statements and nothing else (no BEGIN, no ROLLBACK, no
  ping), one round trip for an authenticated read. Behind PgBouncer (DB_PGBOUNCER), in a
  transaction.
- One statement's first row (`first`: every authenticated request's caller; `first_written`:
  a PATCH's UPDATE … RETURNING, in autocommit) goes to asyncpg itself, on a connection of the
  same pool: SQLAlchemy's async execution costs ~130 µs of CPU per statement more than
  asyncpg's (bench/README.md). Any driver error sends it the usual way, which raises
  SQLAlchemy's errors and replaces a dead connection (a write sent this way is one that is
  safe to run twice).
- A write runs in a transaction of its own, which it commits.
- A read in the quick or the bounded lane runs in a transaction whose statements stop after
  the lane's time (`SET LOCAL statement_timeout`: per transaction, so it also holds behind
  PgBouncer in transaction pooling), without parallel workers; one bounded read at a time.

A pooled connection found dead (a restart, a failover) when a unit starts is replaced, and the
unit runs once more: nothing of it ran. A unit that failed while committing is never repeated.
"""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar, cast

import asyncpg
from sqlalchemy import Executable, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.compiler import SQLCompiler

from ..errors import QueryTooExpensive
from ..serving.draining import WorkGate
from ..serving.metrics import Metrics
from ..settings import Settings
from .database import Database, Lane, ReadUnit, Row, WriteUnit
from .outage import sqlstate
from .turns import Turns

QUERY_CANCELED = "57014"  # statement_timeout
COMMITTING = "roster_committing"  # a write whose commit had begun when it failed
T = TypeVar("T")
R = TypeVar("R")  # what a driver-or-usual-way read gives: a row, None, or rows


class PostgreSQLDatabase(Database):
    dialect = "postgresql"

    def __init__(
        self, settings: Settings, metrics: Metrics | None = None, gate: WorkGate | None = None
    ) -> None:
        super().__init__(settings, metrics, gate)
        self.engine = engine(settings)
        self.connections = settings.db_connections
        self._turns = Turns(
            settings.db_connections, settings.db_pool_timeout, settings.retry_after_seconds
        )
        self._timeouts = {
            Lane.QUICK: round(self.quick_seconds * 1000),
            Lane.BOUNDED: settings.list_budget_ms,
        }
        self._bounded = asyncio.Semaphore(1)  # one costly read at a time per worker
        # Behind PgBouncer in transaction pooling a statement is prepared and run in one
        # transaction (on one server connection): reads too, at two more round trips.
        self._autocommit = not settings.db_pgbouncer
        self._compiled: dict[int, tuple[Executable, SQLCompiler]] = {}

    def capacity(self) -> dict[str, int]:
        return {"connections": self.connections}

    async def _read(self, unit: ReadUnit[T], lane: Lane) -> T:
        if lane is Lane.NORMAL:
            return await _apart(self._reading(unit))
        if lane is Lane.QUICK:
            return await _apart(self._reading_within(unit, lane))
        async with self._bounded:
            return await _apart(self._reading_within(unit, lane))

    async def _write(self, unit: WriteUnit[T]) -> T:
        return await _apart(self._writing(unit))

    async def _write_at_once(self, unit: WriteUnit[T]) -> T:
        if not self._autocommit:  # behind PgBouncer, as every write
            return await self._write(unit)
        return await _apart(self._writing_at_once(unit))

    async def close(self) -> None:
        await self.engine.dispose()

    async def _first(
        self, unit: ReadUnit[Row | None], statement: Executable, params: dict[str, Any]
    ) -> Row | None:
        return await self._by_driver_or(
            statement, params, "read", lambda: self._read(unit, Lane.NORMAL)
        )

    async def _all(
        self, unit: ReadUnit[list[Any]], statement: Executable, params: dict[str, Any]
    ) -> list[Any]:
        return await self._by_driver_or(
            statement, params, "read", lambda: self._read(unit, Lane.NORMAL), fetch="fetch"
        )

    async def _first_written(
        self, unit: WriteUnit[Row | None], statement: Executable, params: dict[str, Any]
    ) -> Row | None:
        # The statement is one that may run twice (`Database.first_written`).
        return await self._by_driver_or(
            statement, params, "write", lambda: self._write_at_once(unit)
        )

    async def _by_driver_or(
        self,
        statement: Executable,
        params: dict[str, Any],
        kind: str,
        usual_way: Callable[[], Awaitable[R]],
        fetch: str = "fetchrow",
    ) -> R:
        """`fetch` (asyncpg's fetchrow, or fetch for every row) on a pooled connection, or the
        usual way when the driver cannot."""
        if self._autocommit:  # behind PgBouncer asyncpg could keep no statement prepared
            try:
                found: R = await self._by_driver(statement, params, kind, fetch)
                return found
            except _DRIVER_ERRORS:
                pass  # the usual way raises SQLAlchemy's error, or runs on a fresh connection
        return await usual_way()

    async def _by_driver(
        self, statement: Executable, params: dict[str, Any], kind: str, fetch: str
    ) -> Any:
        compiled = self._compile(statement)
        values = compiled.construct_params(params)
        arguments = [values[name] for name in compiled.positiontup or ()]
        async with self._turns.turn():
            pooled = await self.engine.raw_connection()
            driver = pooled.driver_connection
            assert driver is not None  # a pooled connection that is open
            try:
                with self.busy(kind):
                    return await getattr(driver, fetch)(compiled.string, *arguments)
            except asyncpg.PostgresError:
                raise  # the server refused the statement (a taken email, say): the link is fine
            except BaseException:
                # A lost connection, a timeout, a cancelled request: this connection's state is
                # unknown and it is not used again.
                pooled.invalidate()
                raise
            finally:
                pooled.close()  # back to the pool (nothing is sent)

    def _compile(self, statement: Executable) -> SQLCompiler:
        """The statement in asyncpg's own terms ($1 parameters), compiled once."""
        known = self._compiled.get(id(statement))
        if known is None:
            compiled = cast(SQLCompiler, statement.compile(dialect=self.engine.dialect))  # type: ignore[attr-defined]
            known = self._compiled[id(statement)] = (statement, compiled)  # holds the id's owner
        return known[1]

    async def _reading(self, unit: ReadUnit[T]) -> T:
        async def attempt() -> T:
            async with self._turns.turn(), self.engine.connect() as connection:
                if self._autocommit:
                    await connection.execution_options(isolation_level="AUTOCOMMIT")
                with self.busy("read"):
                    result = await connection.run_sync(unit)
                if not self._autocommit:
                    await connection.rollback()
                return result

        return await _once_more_if_dead(attempt)

    async def _reading_within(self, unit: ReadUnit[T], lane: Lane) -> T:
        async def attempt() -> T:
            async with self._turns.turn(), self.engine.connect() as connection:
                with self.busy("read"):
                    await _limit(connection, self._timeouts[lane])
                    result = await connection.run_sync(unit)
                    await connection.commit()
                    return result

        try:
            return await _once_more_if_dead(attempt)
        except sa_exc.DBAPIError as error:
            if sqlstate(error) == QUERY_CANCELED:
                raise QueryTooExpensive() from error
            raise

    async def _writing(self, unit: WriteUnit[T]) -> T:
        async def attempt() -> T:
            session = AsyncSession(self.engine, sync_session_class=_TrackedSession)
            async with self._turns.turn(), session:
                try:
                    with self.busy("write"):
                        return await session.run_sync(unit)
                except sa_exc.DBAPIError as error:
                    if session.sync_session.info.get(COMMITTING):
                        setattr(error, COMMITTING, True)  # it may have committed: never again
                    raise

        return await _once_more_if_dead(attempt)

    async def _writing_at_once(self, unit: WriteUnit[T]) -> T:
        async def attempt() -> T:
            async with self._turns.turn(), self.engine.connect() as connection:
                # The session's BEGIN and COMMIT send nothing in autocommit.
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                async with AsyncSession(bind=connection) as session:
                    with self.busy("write"):
                        return await session.run_sync(unit)

        return await _once_more_if_dead(attempt)


# What asyncpg raises for a statement or a connection (a timeout is not among them: it is
# answered as it is, 503, rather than waited for twice).
_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)


class _TrackedSession(Session):
    """A session that notes when its commit has begun."""

    def commit(self) -> None:
        self.info[COMMITTING] = True
        super().commit()


async def _limit(connection: AsyncConnection, timeout_ms: int) -> None:
    """This transaction's statements stop after `timeout_ms`, each on one core."""
    await connection.execute(text(f"SET LOCAL statement_timeout = {int(timeout_ms)}"))
    await connection.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))


async def _once_more_if_dead(attempt: Callable[[], Awaitable[T]]) -> T:
    try:
        return await attempt()
    except sa_exc.DBAPIError as error:
        if not error.connection_invalidated or _while_committing(error):
            raise
    return await attempt()  # the pool has let the dead connection go


def _while_committing(error: sa_exc.DBAPIError) -> bool:
    return bool(getattr(error, COMMITTING, False))


_BUDGET = text(
    "SELECT current_setting('max_connections')::int AS allowed,"
    " current_setting('superuser_reserved_connections')::int AS reserved,"
    " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS in_use"
)


async def budget_problem(settings: Settings, workers: int) -> str | None:
    """Why `workers` x DB_CONNECTIONS cannot fit the server's max_connections beside the
    connections already in use there, or None when it fits (or PgBouncer stands between)."""
    if settings.db_pgbouncer:
        return None
    checking = create_async_engine(
        settings.database_url, poolclass=NullPool, connect_args=connect_args(settings)
    )
    try:
        async with checking.connect() as connection:
            row = (await connection.execute(_BUDGET)).one()
    finally:
        await checking.dispose()
    wanted = workers * settings.db_connections
    free = row.allowed - row.reserved - (row.in_use - 1)  # this check's own one is going
    if wanted <= free:
        return None
    return (
        f"{workers} workers x DB_CONNECTIONS {settings.db_connections} = {wanted} PostgreSQL "
        f"connections, but the server allows {row.allowed - row.reserved} and "
        f"{row.in_use - 1} are in use: lower DB_CONNECTIONS or --workers, raise "
        "max_connections, or put PgBouncer in front (README, Deployment)"
    )


def engine(settings: Settings) -> AsyncEngine:
    """The pool: exactly DB_CONNECTIONS, no overflow, no ping at checkout, nothing sent when a
    connection is returned (a read has no transaction to end; a write has ended its own)."""
    return create_async_engine(
        settings.database_url,
        pool_size=settings.db_connections,
        max_overflow=0,
        pool_timeout=settings.db_pool_timeout,
        pool_reset_on_return=None,
        connect_args=connect_args(settings),
    )


def connect_args(settings: Settings) -> dict[str, Any]:
    # Every wait is bounded: connecting, and each statement (a network that drops packets
    # would otherwise hold a request for as long as the partition lasts).
    args: dict[str, Any] = {
        "timeout": settings.db_connect_timeout,
        "command_timeout": settings.db_command_timeout,
        "server_settings": {"application_name": "roster"},  # in pg_stat_activity
    }
    if settings.db_pgbouncer:
        # PgBouncer in transaction pooling hands each transaction any server connection: no
        # prepared statement may outlive its transaction, nor share a name with another's.
        args["statement_cache_size"] = 0
        args["prepared_statement_cache_size"] = 0
        args["prepared_statement_name_func"] = _statement_name
    return args


def _statement_name() -> str:
    return f"__roster_{uuid.uuid4().hex}__"


async def _apart(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` in an empty context: no request context reaches a unit of work."""
    return await asyncio.create_task(work, context=contextvars.Context())

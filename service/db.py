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
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import event, inspect, make_url, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from .metrics import Metrics
from .settings import Settings
from .shutdown import WorkGate

READER_THREADS = 4
T = TypeVar("T")
P = ParamSpec("P")


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
        # Every wait is bounded: connecting, and each statement (a network that drops packets
        # would otherwise hold a request for as long as the partition lasts).
        connect_args={
            "timeout": settings.db_connect_timeout,
            "command_timeout": settings.db_command_timeout,
        },
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

    def __init__(
        self, settings: Settings, metrics: Metrics | None = None, gate: WorkGate | None = None
    ) -> None:
        self.engine = create_engine(settings)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._metrics = metrics or Metrics()
        self._gate = gate or WorkGate(settings.retry_after_seconds)
        self._readers: _SqliteThreads | None = None
        self._writer: _SqliteThreads | None = None
        if settings.is_sqlite:
            self._readers = _SqliteThreads(settings, READER_THREADS, "sqlite-read")
            self._writer = _SqliteThreads(settings, 1, "sqlite-write", immediate=True)
            self._metrics.db_capacity("read", READER_THREADS)
            self._metrics.db_capacity("write", 1)
        else:
            pooled = settings.db_pool_size + settings.db_max_overflow
            self._metrics.db_capacity("connections", pooled)

    async def read(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(connection, *args)`: queries only; sees everything committed before it."""
        self._gate.admit()

        def unit(connection: Connection) -> T:
            return fn(connection, *args, **kwargs)

        if self._readers is not None:
            return await self._readers.run(self._counted("read", _on_connection, unit))
        async with self.engine.connect() as connection:
            with self._busy("read"):
                return await connection.run_sync(unit)

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
        async with self.sessions() as session:
            with self._busy("write"):
                return await session.run_sync(unit)

    async def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (None: never migrated), read the way
        requests read, so that it also proves the path requests take answers."""
        return await self.read(_schema_revision)

    async def close(self) -> None:
        for threads in (self._readers, self._writer):
            if threads is not None:
                threads.close()
        await self.engine.dispose()

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

    async def run(self, job: Callable[[Engine], T]) -> T:
        """`job(engine)` on one of the threads. No request context reaches it there."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, job, self.engine)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self.engine.dispose()


def _schema_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    revision: str | None = connection.execute(
        text("SELECT version_num FROM alembic_version")
    ).scalar()
    return revision


# SQLite errors of a database that is there but cannot be used now (not a bug in a query).
_SQLITE_UNAVAILABLE = ("database is locked", "unable to open database", "disk i/o error")
# PostgreSQL SQLSTATE classes and codes of a server that cannot serve: connection exceptions,
# too many connections, shutting down or starting up.
_PG_UNAVAILABLE_CLASSES = ("08", "53")
_PG_UNAVAILABLE_CODES = frozenset({"57P01", "57P02", "57P03"})


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` says the database cannot be reached or used right now (a 503), rather
    than that a statement is wrong (a 500)."""
    if isinstance(error, TimeoutError | sa_exc.TimeoutError | OSError | sa_exc.DisconnectionError):
        return True
    if not isinstance(error, sa_exc.DBAPIError):
        return False
    if error.connection_invalidated or isinstance(error, sa_exc.InterfaceError):
        return True
    cause = error.orig
    sqlstate = getattr(cause, "sqlstate", None) or getattr(
        getattr(cause, "__cause__", None), "sqlstate", None
    )
    if isinstance(sqlstate, str):
        return sqlstate[:2] in _PG_UNAVAILABLE_CLASSES or sqlstate in _PG_UNAVAILABLE_CODES
    if isinstance(error, sa_exc.OperationalError):
        message = str(cause).lower()
        return any(reason in message for reason in _SQLITE_UNAVAILABLE)
    return False


def _on_connection(engine: Engine, unit: Callable[[Connection], T]) -> T:
    with engine.connect() as connection:
        return unit(connection)


def _in_session(engine: Engine, unit: Callable[[Session], T]) -> T:
    with Session(engine, expire_on_commit=False) as session:
        return unit(session)

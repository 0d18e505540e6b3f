"""SQLite: units of work run whole on threads of their own (a few readers, one writer, one lane
for costly lists that stops each at its budget), each thread with its own synchronous
connection; the pragmas of every connection, and its Unicode `lower()`.

aiosqlite would hop to its thread and back on every cursor call (a read was ~4 hops, a write
transaction ~15); here a unit of work is one hop.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import create_engine, event, make_url
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from ..errors import QueryTooExpensive
from ..serving.draining import WorkGate
from ..serving.metrics import Metrics
from ..serving.threads import lower_priority
from ..settings import Settings
from .database import CoreUnit, Database, Lane, ReadUnit, WriteUnit

READER_THREADS = 4
BOUNDED_NICENESS = 10  # the costly-read lane yields the CPU to requests that are cheap
T = TypeVar("T")


class SQLiteDatabase(Database):
    """Readers, a writer (`BEGIN IMMEDIATE`, one at a time) and a bounded lane, on threads."""

    dialect = "sqlite"

    def __init__(
        self, settings: Settings, metrics: Metrics | None = None, gate: WorkGate | None = None
    ) -> None:
        super().__init__(settings, metrics, gate)
        self._readers = Threads(settings, READER_THREADS, "sqlite-read", reading=True)
        self._writer = Threads(settings, 1, "sqlite-write", begin="BEGIN IMMEDIATE")
        self._bounded = Threads(
            settings, 1, "sqlite-bounded", reading=True, niceness=BOUNDED_NICENESS
        )

    def capacity(self) -> dict[str, int]:
        return {"read": READER_THREADS, "write": 1}

    async def _read(self, unit: ReadUnit[T], lane: Lane) -> T:
        def job(threads: Threads) -> T:
            with self.busy("read"):
                return threads.reading(unit)

        if lane is Lane.NORMAL:
            return await self._readers.run(job)
        if lane is Lane.QUICK:
            return await self._readers.run(job, self.quick_seconds)
        return await self._bounded.run(job, self.budget_seconds)

    async def _write(self, unit: WriteUnit[T]) -> T:
        def job(threads: Threads) -> T:
            with self.busy("write"):
                return threads.writing(unit)

        return await self._writer.run(job)

    async def _write_core(self, unit: CoreUnit[T]) -> T:
        def job(threads: Threads) -> T:
            with self.busy("write"):
                return threads.writing_core(unit)

        return await self._writer.run(job)

    async def close(self) -> None:
        for threads in (self._readers, self._writer, self._bounded):
            threads.close()


def configure(engine: Engine, busy_timeout_ms: int, begin: str | None = "BEGIN") -> None:
    """Pragmas on every connection; transactions begin with `begin` (None: none do, every
    statement is its own: a reader's)."""

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

    if begin is None:
        return

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # On a DBAPI cursor: `exec_driver_sql` costs more than the statement itself.
        cursor = connection.connection.cursor()
        cursor.execute(begin)
        cursor.close()


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


# SQLite calls the progress handler every this many virtual-machine instructions.
_PROGRESS_STEPS = 10_000


class Deadline(threading.local):
    """When the unit of work running on this thread must stop (monotonic seconds)."""

    at = math.inf

    def passed(self) -> bool:
        return time.monotonic() > self.at


class Threads:
    """Threads that each own a synchronous connection to the SQLite file.

    A unit of work runs whole on one of them (a hop to a thread per unit, not per statement).
    A writer's transactions begin with `begin` (`BEGIN IMMEDIATE`: writers queue here, and
    other processes' writers wait on the busy timeout instead of failing). A reader keeps its
    connection for good, in autocommit: a read is its statements, without a BEGIN and a
    ROLLBACK around them or a trip through the pool (a list's two statements may then see
    two moments, as on PostgreSQL, where reads are in autocommit too); its statements can be
    stopped at a deadline.
    """

    def __init__(
        self,
        settings: Settings,
        threads: int,
        name: str,
        begin: str = "BEGIN",
        reading: bool = False,
        niceness: int = 0,
    ) -> None:
        self._executor = ThreadPoolExecutor(
            threads, thread_name_prefix=name, initializer=lower_priority, initargs=(niceness,)
        )
        self.engine = create_engine(
            make_url(settings.database_url).set(drivername="sqlite"),
            pool_size=threads,
            max_overflow=0,
            connect_args={"check_same_thread": False},
        )
        configure(self.engine, settings.db_busy_timeout_ms, None if reading else begin)
        self._deadline = Deadline()
        self._kept = threading.local()
        self._every_kept: list[Connection] = []  # to close them all, from any thread
        if reading:
            self._interruptible(self.engine, settings.sqlite_cache_mib)

    async def run(self, job: Callable[[Threads], T], budget: float | None = None) -> T:
        """`job(self)` on one of the threads; past `budget` seconds (on reading threads),
        `QueryTooExpensive`."""
        if budget is not None:
            job = self._within(job, budget)
        return await asyncio.get_running_loop().run_in_executor(self._executor, job, self)

    def reading(self, unit: Callable[[Connection], T]) -> T:
        """`unit(connection)` on this thread's own connection (a reader's)."""
        return self._on_kept(unit)

    def writing(self, unit: Callable[[Session], T]) -> T:
        """`unit(session)`, a transaction on this thread's own connection (the writer's)."""

        def in_session(connection: Connection) -> T:
            with Session(connection, expire_on_commit=False) as session:
                return unit(session)

        return self._on_kept(in_session)

    def writing_core(self, unit: Callable[[Connection], T]) -> T:
        """`unit(connection)` in a transaction on this thread's own connection (the writer's),
        committed when it returns."""

        def in_transaction(connection: Connection) -> T:
            with connection.begin():
                return unit(connection)

        return self._on_kept(in_transaction)

    def _on_kept(self, unit: Callable[[Connection], T]) -> T:
        connection: Connection | None = getattr(self._kept, "connection", None)
        if connection is None:
            connection = self._kept.connection = self.engine.connect()
            self._every_kept.append(connection)
        try:
            return unit(connection)
        except DBAPIError as error:
            if error.connection_invalidated or connection.invalidated:
                self._kept.connection = None  # a fresh one next time
                self._every_kept.remove(connection)
                connection.close()
            raise
        finally:
            if not connection.closed and connection.in_transaction():
                connection.rollback()  # what a unit left open ends here, as the pool would

    def _interruptible(self, engine: Engine, cache_mib: int) -> None:
        deadline = self._deadline

        @event.listens_for(engine, "connect")
        def _reader(dbapi_connection: Any, _record: Any) -> None:
            # A true return makes SQLite abandon the statement ("interrupted").
            dbapi_connection.set_progress_handler(deadline.passed, _PROGRESS_STEPS)
            # Lists at scale read rows all over the file: keep more of it than the 2 MiB default.
            dbapi_connection.execute(f"PRAGMA cache_size=-{int(cache_mib) * 1024}")

    def _within(self, job: Callable[[Threads], T], budget: float) -> Callable[[Threads], T]:
        deadline = self._deadline

        def bounded(threads: Threads) -> T:
            deadline.at = time.monotonic() + budget
            try:
                return job(threads)
            except OperationalError as error:
                if deadline.passed() and "interrupted" in str(error.orig):
                    raise QueryTooExpensive() from error
                raise
            finally:
                deadline.at = math.inf

        return bounded

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        for connection in self._every_kept:
            connection.close()
        self._every_kept.clear()
        self.engine.dispose()

"""The database behind one small interface: `read` (in a lane), `write`, `close`. Each backend is
a class of its own (`sqlite.SQLiteDatabase`, `postgresql.PostgreSQLDatabase`); `open_database`
picks one for the settings.

A unit of work is a plain function of a synchronous SQLAlchemy `Connection` (reads) or
`Session` (writes, which commit explicitly), run whole, in one step. It never sees the request
that asked for it: it runs on a SQLite thread, or, on PostgreSQL, in a context of its own, so
whatever it needs is an argument.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from enum import Enum
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Executable, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..errors import QueryTooExpensive
from ..serving.draining import WorkGate
from ..serving.metrics import Metrics
from ..settings import Settings
from . import audit

QUICK_MS = 100  # a read in the quick lane that takes longer starts again in the bounded one
T = TypeVar("T")
P = ParamSpec("P")
ReadUnit = Callable[[Connection], T]
WriteUnit = Callable[[Session], T]
CoreUnit = Callable[[Connection], T]
Row = Mapping[Any, Any]  # a row by column name: SQLAlchemy's RowMapping, asyncpg's Record


class Lane(Enum):
    """Where a read runs."""

    NORMAL = "normal"  # with the readers: a read whose cost does not grow with the table
    QUICK = "quick"  # with the readers for QUICK_MS, then again in the bounded lane
    BOUNDED = "bounded"  # one at a time, stopped at LIST_BUDGET_MS (QueryTooExpensive)


class Database(ABC):
    """Runs units of work: `await db.read(fn, *args)`, `await db.write(fn, *args)`."""

    dialect: str

    def __init__(self, settings: Settings, metrics: Metrics | None, gate: WorkGate | None) -> None:
        self.metrics = metrics or Metrics()
        self.gate = gate or WorkGate(settings.retry_after_seconds)
        self.quick_seconds = min(QUICK_MS, settings.list_budget_ms) / 1000
        self.budget_seconds = settings.list_budget_ms / 1000

    async def read(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(connection, *args)`: queries only; sees everything committed before it."""
        self.gate.admit()

        def unit(connection: Connection) -> T:
            return fn(connection, *args, **kwargs)

        return await self._read(unit, Lane.NORMAL)

    async def first(self, statement: Executable, params: dict[str, Any]) -> Row | None:
        """The first row of one read-only statement, by column name (None: no row): a read
        as `read` runs it, which a backend may run more cheaply than a unit of work."""
        self.gate.admit()

        def unit(connection: Connection) -> Row | None:
            return first_row(connection, statement, params)

        return await self._first(unit, statement, params)

    async def all(self, statement: Executable, params: dict[str, Any]) -> list[Any]:
        """Every row of one read-only statement, by position (and by name), as `first` reads
        one: a read a backend may run more cheaply than a unit of work."""
        self.gate.admit()

        def unit(connection: Connection) -> list[Any]:
            return list(connection.execute(statement, params))

        return await self._all(unit, statement, params)

    async def first_written(self, statement: Executable, params: dict[str, Any]) -> Row | None:
        """The first row one writing statement returns (`UPDATE … RETURNING`), committed on its
        own. It needs no transaction around it: on PostgreSQL it runs in autocommit, one round
        trip where BEGIN, the statement and COMMIT were three. It must be safe to run twice: a
        connection found dead is replaced, and the statement run again, as for reads."""
        self.gate.admit()

        def unit(session: Session) -> Row | None:
            row = first_row(session.connection(), statement, params)
            session.commit()
            return row

        return await self._first_written(unit, statement, params)

    async def read_in(
        self,
        lane: Lane,
        fn: Callable[Concatenate[Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """A read in `lane`; a quick one that runs out of time starts again, bounded."""
        self.gate.admit()

        def unit(connection: Connection) -> T:
            return fn(connection, *args, **kwargs)

        if lane is not Lane.QUICK:
            return await self._read(unit, lane)
        try:
            return await self._read(unit, Lane.QUICK)
        except QueryTooExpensive:
            return await self._read(unit, Lane.BOUNDED)

    async def write(
        self, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(session, *args)` in a transaction of its own; it commits explicitly. Whatever
        it leaves uncommitted (an exception, say) is rolled back."""
        self.gate.admit()

        def unit(session: Session) -> T:
            try:
                return fn(session, *args, **kwargs)
            finally:
                events = audit.committed(session)
                if events:
                    audit.announce(self.metrics, events)

        return await self._write(unit)

    async def write_core(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(connection, *args)`, Core statements in a transaction of their own, committed
        when it returns (rolled back when it raises): a write without an ORM session, whose
        upkeep costs more than a short unit's statements (about 0.1 ms on SQLite)."""
        self.gate.admit()

        def unit(connection: Connection) -> T:
            return fn(connection, *args, **kwargs)

        return await self._write_core(unit)

    async def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (None: never migrated), read the way
        requests read, so that it also proves the path requests take answers."""
        return await self.read(schema_revision)

    @abstractmethod
    def capacity(self) -> dict[str, int]:
        """How many units of work can run at once, by kind (for the metrics)."""

    @abstractmethod
    async def close(self) -> None:
        """Let every connection go."""

    @abstractmethod
    async def _read(self, unit: ReadUnit[T], lane: Lane) -> T: ...

    @abstractmethod
    async def _write(self, unit: WriteUnit[T]) -> T: ...

    async def _write_core(self, unit: CoreUnit[T]) -> T:
        def in_session(session: Session) -> T:
            result = unit(session.connection())
            session.commit()
            return result

        return await self._write(in_session)

    async def _write_at_once(self, unit: WriteUnit[T]) -> T:
        return await self._write(unit)  # where a transaction costs no round trips

    async def _first(
        self, unit: ReadUnit[Row | None], _statement: Executable, _params: dict[str, Any]
    ) -> Row | None:
        return await self._read(unit, Lane.NORMAL)

    async def _all(
        self, unit: ReadUnit[list[Any]], _statement: Executable, _params: dict[str, Any]
    ) -> list[Any]:
        return await self._read(unit, Lane.NORMAL)

    async def _first_written(
        self, unit: WriteUnit[Row | None], _statement: Executable, _params: dict[str, Any]
    ) -> Row | None:
        return await self._write_at_once(unit)

    @contextmanager
    def busy(self, kind: str) -> Iterator[None]:
        """A unit of work of `kind` (read or write) runs inside the block."""
        self.metrics.db_busy(kind, 1)
        try:
            yield
        finally:
            self.metrics.db_busy(kind, -1)


def first_row(connection: Connection, statement: Executable, params: dict[str, Any]) -> Row | None:
    return connection.execute(statement, params).mappings().first()


def schema_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    revision: str | None = connection.execute(
        text("SELECT version_num FROM alembic_version")
    ).scalar()
    return revision

"""The audit log's writing side (docs/API.md §7): an event joins the transaction of its change,
and is announced (a log line, a count) only once that transaction has committed.

`record` inserts the event on the unit of work's session and notes it there; the session's
commit moves it to the announced; a rollback forgets it. `Database.write` announces what its
unit committed. So an event is written, logged and counted if and only if its change is.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import orjson
from sqlalchemy import (
    ColumnElement,
    Insert,
    Integer,
    Select,
    Table,
    bindparam,
    delete,
    event,
    insert,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from ..schemas import UNKNOWN_ADDRESS
from ..serving.logs import AUDIT_LOGGER
from ..serving.metrics import Metrics
from .models import AuditEvent, as_utc

logger = logging.getLogger(AUDIT_LOGGER)
AUDIT = cast(Table, AuditEvent.__table__)
INSERT_EVENT = insert(AUDIT)  # built once; the id comes back by RETURNING (or lastrowid)
# An event's columns that say where it came from (an `Origin`'s fields).
AUDIT_ORIGIN_COLUMNS = (
    "actor_id",
    "credential_kind",
    "credential_id",
    "client_address",
    "request_id",
)
_INSERTED = ("type", "occurred_at", *AUDIT_ORIGIN_COLUMNS, "target_id", "details")
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's storage format for DateTime on SQLite
_PENDING = "roster_audit_pending"  # recorded in the session's transaction, not yet committed
_COMMITTED = "roster_audit_committed"  # committed, not yet announced


@dataclass(frozen=True)
class Origin:
    """Where a change comes from: the caller (None: anonymous, or the command line), the
    credential it used (`session`, `key` or `cli`, and its id), the client's address and the
    request's id."""

    actor_id: int | None
    credential_kind: str | None
    credential_id: int | None
    client_address: str | None
    request_id: str | None

    def __post_init__(self) -> None:
        if self.client_address == UNKNOWN_ADDRESS:
            object.__setattr__(self, "client_address", None)

    def columns(self, prefix: str = "") -> dict[str, Any]:
        """Its fields by column name (`prefix`ed: a statement's parameters)."""
        return {prefix + name: getattr(self, name) for name in AUDIT_ORIGIN_COLUMNS}


CLI = Origin(None, "cli", None, None, None)  # `roster create-user`
NOWHERE = Origin(None, None, None, None, None)  # the service itself


def event_values(
    origin: Origin,
    kind: str,
    target_id: int | None,
    details: dict[str, Any],
    now: datetime,
    event_id: int | None = None,
) -> dict[str, Any]:
    """An event's columns by name: what is inserted, and what `announce` shows once committed."""
    return {
        "id": event_id,
        "type": kind,
        "occurred_at": now,
        **origin.columns(),
        "target_id": target_id,
        "details": details,
    }


def record(
    session: Session,
    origin: Origin,
    kind: str,
    target_id: int | None,
    details: dict[str, Any],
    now: datetime,
) -> None:
    """An event of type `kind`, in the session's transaction (the caller commits)."""
    values = event_values(origin, kind, target_id, details, now)
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        values["id"] = _inserted_id_on_sqlite(connection, values)
    else:
        result = connection.execute(INSERT_EVENT, {name: values[name] for name in _INSERTED})
        values["id"] = result.inserted_primary_key[0] if result.inserted_primary_key else None
    _noted(session, values)


def inserted_on_sqlite(
    connection: Connection,
    statement: Insert,
    parameters: dict[str, Any],
    origin: Origin,
    kind: str,
    target_id: int,
    now: datetime,
) -> list[dict[str, Any]]:
    """SQLite: the events `statement` inserts (an INSERT … SELECT … RETURNING id, details whose
    parameters are `parameters`, the origin's `a_` + field and `b_now`), run on the DB-API
    connection; the caller announces them once its transaction has committed."""
    bound = {**parameters, **origin.columns("a_"), "b_now": now.strftime(_SQLITE_TIME)}
    driver = connection.connection.driver_connection
    rows = driver.execute(_named_on_sqlite(statement), bound).fetchall()  # type: ignore[union-attr]
    return [
        event_values(origin, kind, target_id, orjson.loads(details), now, event_id)
        for event_id, details in rows
    ]


@functools.cache
def _named_on_sqlite(statement: Insert, columns: tuple[str, ...] | None = None) -> str:
    """`statement`'s SQL for the DB-API connection (of `columns` only, if given), its parameters
    by name (built once)."""
    dialect = sqlite.dialect(paramstyle="named")
    return str(statement.compile(dialect=dialect, column_keys=columns))


def _inserted_id_on_sqlite(connection: Connection, values: dict[str, Any]) -> int:
    """The event's INSERT on the DB-API connection itself: half of what SQLAlchemy's execution
    costs on a PATCH (~250 k instructions of ~4.5 M, bench/README.md). Values stored as
    SQLAlchemy stores them there: the (UTC) time as text, JSON as text."""
    bound = {name: values[name] for name in _INSERTED}
    bound["occurred_at"] = values["occurred_at"].strftime(_SQLITE_TIME)
    bound["details"] = orjson.dumps(values["details"]).decode()
    driver = connection.connection.driver_connection
    sql = _named_on_sqlite(INSERT_EVENT, _INSERTED)
    event_id: int = driver.execute(sql, bound).lastrowid  # type: ignore[union-attr]
    return event_id


def _noted(session: Session, values: dict[str, Any]) -> None:
    session.info.setdefault(_PENDING, []).append(values)


def committed(session: Session) -> list[dict[str, Any]]:
    """The events the session committed since this was last asked (and forgets them)."""
    found: list[dict[str, Any]] = session.info.pop(_COMMITTED, [])
    return found


def announce(metrics: Metrics, events: list[dict[str, Any]]) -> None:
    """Committed events: counted by type and, with LOG_FORMAT=json, one log line each, marked
    as an audit event, with all its fields (about 4 % of a PATCH's instructions: not paid
    where nobody ships the lines)."""
    lines = logger.isEnabledFor(logging.INFO)  # with LOG_FORMAT=json (serving.logs)
    for written in events:
        metrics.audit_event(written["type"])
        if not lines:
            continue
        fields = {**as_shown(written), "occurred_at": written["occurred_at"].isoformat()}
        logger.info(
            "audit %s actor=%s target=%s request=%s",
            written["type"],
            written["actor_id"],
            written["target_id"],
            written["request_id"],
            extra={"audit": fields},
        )


def as_shown(row: Any) -> dict[str, Any]:
    """An event's columns (a row by name, or recorded values) as §7 shows the event."""
    kind = row["credential_kind"]
    return {
        "id": row["id"],
        "type": row["type"],
        "occurred_at": row["occurred_at"],
        "actor_id": row["actor_id"],
        "credential": None if kind is None else {"kind": kind, "id": row["credential_id"]},
        "target_id": row["target_id"],
        "client_address": row["client_address"],
        "request_id": row["request_id"],
        "details": row["details"],
    }


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending:
        session.info.setdefault(_COMMITTED, []).extend(pending)


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, _previous: Any) -> None:
    session.info.pop(_PENDING, None)


# The reading side: newest first, (occurred_at, id) descending, by index walks only.
Key = tuple[datetime, int]  # where a page ends: the last event's time and id
_events = AUDIT.c
_COLUMNS = (
    _events.id,
    _events.type,
    _events.occurred_at,
    _events.actor_id,
    _events.credential_kind,
    _events.credential_id,
    _events.target_id,
    _events.client_address,
    _events.request_id,
    _events.details,
)
_NAMES = tuple(column.name for column in _COLUMNS)
_NEWEST_FIRST = (_events.occurred_at.desc(), _events.id.desc())


@dataclass(frozen=True)
class EventFilter:
    """Which events a listing shows: every condition holds (`involving`: a user's own log,
    the events whose actor or target they are)."""

    types: tuple[str, ...] | None = None
    actor_id: int | None = None
    target_id: int | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    involving: int | None = None


def find_events(
    connection: Connection, wanted: EventFilter, limit: int, after: Key | None
) -> list[dict[str, Any]]:
    """Up to `limit` events after `after`, newest first, as §7 shows them."""
    statement, params = events_query(wanted, limit, after)
    return [event_of(row) for row in connection.execute(statement, params)]


def event_of(row: Sequence[Any]) -> dict[str, Any]:
    """An event's row (SQLAlchemy's, or asyncpg's: JSON as text) as §7 shows the event."""
    found = dict(zip(_NAMES, row, strict=True))
    if isinstance(found["details"], str):
        found["details"] = orjson.loads(found["details"])
    return {**as_shown(found), "occurred_at": as_utc(found["occurred_at"])}


def walks_alone(wanted: EventFilter) -> bool:
    """Whether each walk's index holds every condition of the listing (at most one of actor,
    target, types and a user's own log; a time range is in every index): then a walk stops
    at the page's end whatever the log holds, a read that needs no time budget."""
    keyed = (wanted.actor_id, wanted.target_id, wanted.types, wanted.involving)
    return sum(value is not None for value in keyed) <= 1


@dataclass(frozen=True)
class _Shape:
    """What a listing's statement depends on (its values are parameters)."""

    types: int  # how many types it names (0: any)
    actor: bool
    target: bool
    since: bool
    until: bool
    after: bool
    involving: bool


def events_query(
    wanted: EventFilter, limit: int, after: Key | None
) -> tuple[Select[Any], dict[str, Any]]:
    """The listing's statement (built once per shape: building a union costs ~0.5 ms, more
    than running it) and its parameters."""
    types = wanted.types or ()
    shape = _Shape(
        len(types),
        wanted.actor_id is not None,
        wanted.target_id is not None,
        wanted.since is not None,
        wanted.until is not None,
        after is not None,
        wanted.involving is not None,
    )
    params: dict[str, Any] = {
        "limit": limit,
        "actor_id": wanted.actor_id,
        "target_id": wanted.target_id,
        "since": wanted.since,
        "until": wanted.until,
        "me": wanted.involving,
        **{f"type_{number}": kind for number, kind in enumerate(types)},
    }
    if after is not None:
        params.update(after_at=after[0], after_id=after[1])
    return _events_statement(shape), params


@functools.cache
def _events_statement(shape: _Shape) -> Select[Any]:
    """One index walk per branch (an event type of a list, the actor or the target side of a
    user's own log), each stopped at the page's end, merged: a walk never reads past its page,
    so a page costs the same at ten million events as at ten."""
    common = _conditions(shape)
    limit: BindParameter[int] = bindparam("limit", type_=Integer())
    walks = [
        select(*_COLUMNS).where(*common, *branch).order_by(*_NEWEST_FIRST).limit(limit)
        for branch in _branches(shape)
    ]
    if len(walks) == 1:
        return walks[0]
    merged = union_all(*(select(walk.subquery()) for walk in walks)).subquery()
    return select(merged).order_by(merged.c.occurred_at.desc(), merged.c.id.desc()).limit(limit)


def _conditions(shape: _Shape) -> list[ColumnElement[bool]]:
    at = _events.occurred_at.type
    conditions = []
    if shape.actor:
        conditions.append(_events.actor_id == bindparam("actor_id", type_=_events.actor_id.type))
    if shape.target:
        conditions.append(_events.target_id == bindparam("target_id", type_=_events.target_id.type))
    if shape.since:
        conditions.append(_events.occurred_at >= bindparam("since", type_=at))
    if shape.until:
        conditions.append(_events.occurred_at < bindparam("until", type_=at))
    if shape.after:
        key = tuple_(bindparam("after_at", type_=at), bindparam("after_id", type_=_events.id.type))
        conditions.append(tuple_(_events.occurred_at, _events.id) < key)
    return conditions


def _branches(shape: _Shape) -> list[list[ColumnElement[bool]]]:
    """The walks: one per type of a list, times the two sides of a user's own log (the
    target side leaves out what the actor side has)."""
    types: list[list[ColumnElement[bool]]] = [[]]
    if shape.types:
        types = [
            [_events.type == bindparam(f"type_{number}", type_=_events.type.type)]
            for number in range(shape.types)
        ]
    if not shape.involving:
        return types
    me: BindParameter[int] = bindparam("me", type_=_events.actor_id.type)
    sides = [
        [_events.actor_id == me],
        [_events.target_id == me, or_(_events.actor_id.is_(None), _events.actor_id != me)],
    ]
    return [kind + side for kind in types for side in sides]


def purge_older(session: Session, cutoff: datetime, batch: int) -> int:
    """Remove up to `batch` events older than `cutoff`, oldest first, and commit: a short
    transaction that writers barely wait for. How many went."""
    oldest = (
        select(_events.id)
        .where(_events.occurred_at < cutoff)
        .order_by(_events.occurred_at, _events.id)
        .limit(batch)
    )
    result = session.execute(delete(AUDIT).where(_events.id.in_(oldest.scalar_subquery())))
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)

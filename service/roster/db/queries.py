"""The hot paths' statements, as SQLAlchemy Core built once: the caller of a token, a user, the
UPDATE of a user (lists are in `listing`). The caller is read by `Database.first` (a statement
a backend may run its own cheaper way), or with the rows of a read that rides along
(`Database.all`); the other reads are units of work (`Database.read`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from typing import cast as typed

from sqlalchemy import (
    Insert,
    Select,
    Table,
    Update,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal_column,
    null,
    or_,
    select,
    true,
    update,
)

from ..schemas import UserOut
from .audit import AUDIT, AUDIT_ORIGIN_COLUMNS
from .database import Database, Row
from .models import ApiKey, Token, User

USERS = typed(Table, User.__table__)
users = USERS.c
USER_COLUMNS = (
    users.id,
    users.name,
    users.email,
    users.email_verified,
    users.role,
    users.status,
    users.created_at,
    users.updated_at,
)
USER_FIELDS = tuple(column.name for column in USER_COLUMNS)


def user_out(record: Any) -> UserOut:
    """The representation of a user row or ORM object (validated in pydantic-core: cheaper
    than Python's `model_construct`)."""
    return UserOut.model_validate(record, from_attributes=True)


def _prefixed(table: Any, prefix: str) -> list[Any]:
    return [table.c[column.name].label(prefix + column.name) for column in USER_COLUMNS]


def user_from_row(row: Row, prefix: str = "") -> UserOut | None:
    """The user in a row's columns named `prefix` + field (None: a LEFT JOIN found none)."""
    values = {name: row[prefix + name] for name in USER_FIELDS}
    return None if values["id"] is None else UserOut.model_validate(values)


# Built once: per call only the parameters change (the compiled form is cached too).
_callers = User.__table__.alias("caller")
_targets = User.__table__.alias("target")


def caller_statements(credentials: Table, hash_column: str, *extra: Any) -> tuple[Any, Any]:
    """The caller of a live credential (a session token, an API key) and, in the second
    statement, the user a request's path names too (LEFT JOIN: None when there is none)."""
    found = credentials.c
    # A live credential of an active user: a disabled user's stop working at once, however
    # the user was disabled (through the API, or by SQL).
    live = (
        found[hash_column] == bindparam("token_hash"),
        found.expires_at > bindparam("now"),
        _callers.c.status == "active",
    )
    columns = (
        *_prefixed(_callers, "c_"),
        found.id.label("token_id"),
        found.last_used_at.label("token_last_used_at"),
        *extra,
    )
    joined = credentials.join(_callers, _callers.c.id == found.user_id)
    alone = select(*columns).select_from(joined).where(*live)
    with_target = (
        select(*columns, *_prefixed(_targets, "u_"))
        .select_from(joined.outerjoin(_targets, _targets.c.id == bindparam("user_id")))
        .where(*live)
    )
    return alone, with_target


CALLER_BY_TOKEN, CALLER_AND_USER = caller_statements(typed(Table, Token.__table__), "token_hash")
_keys = typed(Table, ApiKey.__table__)
CALLER_BY_KEY, KEY_CALLER_AND_USER = caller_statements(
    _keys, "key_hash", _keys.c.scopes.label("scopes")
)
USER_BY_ID = select(*USER_COLUMNS).where(users.id == bindparam("user_id"))


@dataclass(frozen=True)
class Along:
    """A read that needs nothing of the caller, run in the caller's own statement: one round
    trip where there were two. `order`: its ORDER BY, as column names (`-` for descending).
    Its first column is never NULL in a row it finds (NULL there: it found none)."""

    statement: Select[Any]
    params: dict[str, Any]
    order: tuple[str, ...]


@functools.cache
def caller_along(caller: Select[Any], rows: Select[Any], order: tuple[str, ...]) -> Select[Any]:
    """The caller's columns, then each of `rows`' (LEFT JOIN: one row of NULLs when `rows`
    finds none; no row at all without a caller). The caller's columns are NULL after the
    first row: decoding them again on every row cost more than the round trip saved. Built
    once per pair of statements."""
    found, page = caller.subquery("found"), rows.subquery("page")
    numbered = func.row_number().over(order_by=ordered(page.c, order)).label("row_number")
    along = select(page, numbered).subquery("along")
    first = or_(along.c.row_number == 1, along.c.row_number.is_(None))
    callers = [case((first, column), else_=null()).label(column.name) for column in found.c]
    joined = found.outerjoin(along, true())
    shown = [column for column in along.c if column is not along.c.row_number]
    return select(*callers, *shown).select_from(joined).order_by(along.c.row_number)


def ordered(columns: Any, order: tuple[str, ...]) -> list[Any]:
    """ORDER BY the named `columns` (`-` prefixed: descending)."""
    return [
        columns[name[1:]].desc() if name.startswith("-") else columns[name].asc() for name in order
    ]


@dataclass(frozen=True)
class Authenticated:
    caller: UserOut
    token_id: int  # the session's id, or the key's
    token_last_used_at: datetime | None
    path_user: UserOut | None  # the user the request's path names, when it names one
    scopes: str | None = None  # a key's, space-separated; None for a session
    along: list[Any] | None = None  # an `Along`'s rows, when one was asked for


async def caller_by_token(
    db: Database,
    token_hash: str,
    now: datetime,
    path_user_id: int | None = None,
    along: Along | None = None,
) -> Authenticated | None:
    """The user a live token belongs to and the token's id; with `path_user_id`, that user
    too, or with `along`, its rows, in the same query (one query per authenticated read)."""
    statements = (CALLER_BY_TOKEN, CALLER_AND_USER)
    return await _caller(db, statements, token_hash, now, path_user_id, along, keyed=False)


async def caller_by_key(
    db: Database,
    key_hash: str,
    now: datetime,
    path_user_id: int | None = None,
    along: Along | None = None,
) -> Authenticated | None:
    """As `caller_by_token`, for an API key: its owner, its id and scopes (one query)."""
    statements = (CALLER_BY_KEY, KEY_CALLER_AND_USER)
    return await _caller(db, statements, key_hash, now, path_user_id, along, keyed=True)


async def _caller(
    db: Database,
    statements: tuple[Any, Any],
    credential_hash: str,
    now: datetime,
    path_user_id: int | None,
    along: Along | None,
    keyed: bool,
) -> Authenticated | None:
    params: dict[str, Any] = {"token_hash": credential_hash, "now": now}
    statement = statements[0]
    if along is not None:
        assert path_user_id is None, "a path's user or a read along, not both"
        return await _caller_along(db, statement, params, along, keyed)
    if path_user_id is not None:
        statement, params["user_id"] = statements[1], path_user_id
    row = await db.first(statement, params)
    if row is None:
        return None
    return _authenticated(row, path_user_id, keyed)


async def _caller_along(
    db: Database, statement: Select[Any], params: dict[str, Any], along: Along, keyed: bool
) -> Authenticated | None:
    assert params.keys().isdisjoint(along.params), "the two reads' parameters share a name"
    combined = caller_along(statement, along.statement, along.order)
    rows = await db.all(combined, {**params, **along.params})
    if not rows:
        return None
    names = statement.selected_columns.keys()
    width = len(names)
    found = [row[width:] for row in rows] if rows[0][width] is not None else []
    return _authenticated(dict(zip(names, rows[0][:width], strict=True)), None, keyed, found)


def _authenticated(
    row: Row, path_user_id: int | None, keyed: bool, along: list[Any] | None = None
) -> Authenticated:
    caller = user_from_row(row, "c_")
    assert caller is not None
    path_user = None if path_user_id is None else user_from_row(row, "u_")
    scopes = row["scopes"] if keyed else None
    last_used_at = row["token_last_used_at"]
    return Authenticated(caller, row["token_id"], last_used_at, path_user, scopes, along)


@functools.cache
def update_user_statement(columns: tuple[str, ...]) -> Update:
    """`UPDATE users SET <columns> WHERE id = :b_id`, built once per set of columns (building one
    costs more than running it). Parameters are the column names prefixed `b_`: SQLAlchemy
    keeps the bare names for its own SET parameters."""
    return (
        update(USERS)
        .where(users.id == bindparam("b_id"))
        .values({name: bindparam(f"b_{name}") for name in columns})
    )


@functools.cache
def set_user_statement(columns: tuple[str, ...]) -> Update:
    """`UPDATE users SET <columns> WHERE id = :b_id RETURNING <the user>`, `updated_at` moved
    only when one of the values differs from the row's (SET sees the row as it was): the
    change and its result in one statement, a write that needs no transaction around it
    (`Database.first_written`), and that can run twice to the same effect. Built once per set
    of columns; parameters as in `update_user_statement`, and `b_now`."""
    changed = or_(*(users[name].is_distinct_from(_parameter(name)) for name in columns))
    now = bindparam("b_now", type_=users.updated_at.type)
    return (
        update(USERS)
        .where(users.id == bindparam("b_id"))
        .values(
            {
                **{name: _parameter(name) for name in columns},
                "updated_at": case((changed, now), else_=users.updated_at),
            }
        )
        .returning(*USER_COLUMNS)
    )


def _parameter(name: str) -> Any:
    return bindparam(f"b_{name}", type_=users[name].type)


@functools.cache
def user_updated_event_statement(columns: tuple[str, ...]) -> Insert:
    """SQLite: the `user.updated` event of `set_user_statement`'s change, run just before it in
    the writer's transaction (SQLite's UPDATE … RETURNING gives only new values; this INSERT …
    SELECT reads the old ones): inserted only when a value differs, `details.changes` built by
    SQLite; RETURNING its id and details. Parameters as `set_user_recorded_statement`'s."""
    differs = {name: users[name].is_distinct_from(_parameter(name)) for name in columns}
    pairs: list[Any] = []
    for name, differ in differs.items():
        old_and_new = func.json_array(users[name], _parameter(name))
        pairs += [literal_column(f"'{name}'"), func.json(case((differ, old_and_new)))]
    # json_patch drops the null members: the fields that did not change.
    changes = func.json_patch(literal_column("'{}'"), func.json_object(*pairs))
    details = func.json_object(literal_column("'changes'"), changes)
    origin: list[Any] = [bindparam(f"a_{name}") for name in AUDIT_ORIGIN_COLUMNS]
    found = select(
        literal_column("'user.updated'"), bindparam("b_now"), *origin, users.id, details
    ).where(users.id == bindparam("b_id"), or_(*differs.values()))
    columns_inserted = ["type", "occurred_at", *AUDIT_ORIGIN_COLUMNS, "target_id", "details"]
    return insert(AUDIT).from_select(columns_inserted, found).returning(AUDIT.c.id, AUDIT.c.details)


@functools.cache
def set_user_recorded_statement(columns: tuple[str, ...]) -> Select[Any]:
    """PostgreSQL: `set_user_statement` and its `user.updated` audit event in one statement
    (data-modifying CTEs: one round trip, atomic, no transaction around it). The row, locked
    first, gives the old values; the event is inserted only when one differs, with
    `details.changes` built by the server. Columns as `set_user_statement`'s, with `was_` +
    column the old values and `event_id` the event's id (None: nothing changed); parameters
    as it, and the origin's (`a_` + its field)."""
    before = (
        select(users.id, *(users[name] for name in columns))
        .where(users.id == bindparam("b_id"))
        .with_for_update()
        .cte("before")
    )
    now = bindparam("b_now", type_=users.updated_at.type)
    moved = or_(*(before.c[name].is_distinct_from(_parameter(name)) for name in columns))
    changed = (
        update(USERS)
        .where(users.id == before.c.id)
        .values(
            {
                **{name: _parameter(name) for name in columns},
                "updated_at": case((moved, now), else_=users.updated_at),
            }
        )
        .returning(*USER_COLUMNS, *(before.c[name].label(f"was_{name}") for name in columns))
        .cte("changed")
    )
    differs = {name: changed.c[f"was_{name}"].is_distinct_from(changed.c[name]) for name in columns}
    pairs: list[Any] = []
    for name, differ in differs.items():
        old_and_new = func.jsonb_build_array(changed.c[f"was_{name}"], changed.c[name])
        pairs += [literal_column(f"'{name}'"), case((differ, old_and_new))]
    details = func.jsonb_build_object(
        literal_column("'changes'"), func.jsonb_strip_nulls(func.jsonb_build_object(*pairs))
    )
    origin = [cast(bindparam(f"a_{name}"), AUDIT.c[name].type) for name in AUDIT_ORIGIN_COLUMNS]
    event = (
        insert(AUDIT)
        .from_select(
            ["type", "occurred_at", *AUDIT_ORIGIN_COLUMNS, "target_id", "details"],
            select(literal_column("'user.updated'"), now, *origin, changed.c.id, details).where(
                or_(*differs.values())
            ),
        )
        .returning(AUDIT.c.id)
        .cte("event")
    )
    event_id = select(event.c.id).scalar_subquery().label("event_id")
    shown = [changed.c[name] for name in USER_FIELDS]
    was = [changed.c[f"was_{name}"] for name in columns]
    return select(*shown, *was, event_id).add_cte(event)

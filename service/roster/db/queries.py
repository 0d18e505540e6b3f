"""The hot paths' statements, as SQLAlchemy Core built once: the caller of a token, a user, the
UPDATE of a user (lists are in `listing`). The caller is read by `Database.first` (a statement
a backend may run its own cheaper way); the other reads are units of work (`Database.read`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, Update, bindparam, case, or_, select, update

from ..schemas import UserOut
from .database import Database, Row
from .models import Token, User

USERS = cast(Table, User.__table__)
users = USERS.c
tokens = Token.__table__.c
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
# A live token of an active user: a disabled user's tokens stop working at once, however
# the user was disabled (through the API, or by SQL).
_LIVE_TOKEN = (
    tokens.token_hash == bindparam("token_hash"),
    tokens.expires_at > bindparam("now"),
    _callers.c.status == "active",
)
_TOKEN_COLUMNS = (tokens.id.label("token_id"), tokens.last_used_at.label("token_last_used_at"))
CALLER_BY_TOKEN = (
    select(*_prefixed(_callers, "c_"), *_TOKEN_COLUMNS)
    .select_from(Token.__table__.join(_callers, _callers.c.id == tokens.user_id))
    .where(*_LIVE_TOKEN)
)
CALLER_AND_USER = (
    select(*_prefixed(_callers, "c_"), *_TOKEN_COLUMNS, *_prefixed(_targets, "u_"))
    .select_from(
        Token.__table__.join(_callers, _callers.c.id == tokens.user_id).outerjoin(
            _targets, _targets.c.id == bindparam("user_id")
        )
    )
    .where(*_LIVE_TOKEN)
)
USER_BY_ID = select(*USER_COLUMNS).where(users.id == bindparam("user_id"))


@dataclass(frozen=True)
class Authenticated:
    caller: UserOut
    token_id: int
    token_last_used_at: datetime | None
    path_user: UserOut | None  # the user the request's path names, when it names one


async def caller_by_token(
    db: Database, token_hash: str, now: datetime, path_user_id: int | None = None
) -> Authenticated | None:
    """The user a live token belongs to and the token's id; with `path_user_id`, that user
    too, in the same query (one query per authenticated read)."""
    params: dict[str, Any] = {"token_hash": token_hash, "now": now}
    statement = CALLER_BY_TOKEN
    if path_user_id is not None:
        statement, params["user_id"] = CALLER_AND_USER, path_user_id
    row = await db.first(statement, params)
    if row is None:
        return None
    caller = user_from_row(row, "c_")
    assert caller is not None
    path_user = None if path_user_id is None else user_from_row(row, "u_")
    return Authenticated(caller, row["token_id"], row["token_last_used_at"], path_user)


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

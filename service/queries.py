"""The hot read paths, as SQLAlchemy Core queries: the caller of a token, a user, a page of users.

They are plain functions of a synchronous `Connection`, so that `Reader` can run each of them
whole in one step: on a SQLite reader thread, or through `run_sync` on PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, or_, select
from sqlalchemy.engine import Connection

from .models import Token, User
from .schemas import UserListQuery, UserOut

users = User.__table__.c
tokens = Token.__table__.c
USER_COLUMNS = (users.id, users.name, users.email, users.role, users.created_at, users.updated_at)


def user_out(record: Any) -> UserOut:
    """The representation of a user row or ORM object: trusted values, so no validation."""
    return UserOut.model_construct(
        id=record.id,
        name=record.name,
        email=record.email,
        role=record.role,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


# Built once: per call only the parameters change (the compiled form is cached too).
CALLER_BY_TOKEN = (
    select(*USER_COLUMNS, tokens.id.label("token_id"))
    .select_from(Token.__table__.join(User.__table__, users.id == tokens.user_id))
    .where(tokens.token_hash == bindparam("token_hash"), tokens.expires_at > bindparam("now"))
)
USER_BY_ID = select(*USER_COLUMNS).where(users.id == bindparam("user_id"))


def caller_by_token(conn: Connection, token_hash: str, now: datetime) -> tuple[UserOut, int] | None:
    """The user a live token belongs to, and the token's id."""
    row = conn.execute(CALLER_BY_TOKEN, {"token_hash": token_hash, "now": now}).first()
    return None if row is None else (user_out(row), row.token_id)


def user_by_id(conn: Connection, user_id: int) -> UserOut | None:
    row = conn.execute(USER_BY_ID, {"user_id": user_id}).first()
    return None if row is None else user_out(row)


def users_page(conn: Connection, query: UserListQuery) -> tuple[list[UserOut], int]:
    total = conn.execute(
        _filtered(select(func.count()).select_from(User.__table__), query)
    ).scalar_one()
    offset = (query.page - 1) * query.per_page
    if offset >= total:  # past the end; also keeps huge page numbers out of SQL
        return [], total
    column = users[query.sort.lstrip("-")]
    order = column.desc() if query.sort.startswith("-") else column.asc()
    page = (
        _filtered(select(*USER_COLUMNS), query)
        .order_by(order, users.id.asc())
        .limit(query.per_page)
        .offset(offset)
    )
    return [user_out(row) for row in conn.execute(page)], total


def _filtered(statement: Select[Any], query: UserListQuery) -> Select[Any]:
    if query.q:
        statement = statement.where(
            or_(
                users.name.icontains(query.q, autoescape=True),
                users.email.icontains(query.q, autoescape=True),
            )
        )
    if query.role:
        statement = statement.where(users.role == query.role)
    return statement

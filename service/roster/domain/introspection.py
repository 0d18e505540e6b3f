"""Token introspection (RFC 7662, docs/API.md §2): what a gateway may know of a session token
or an API key it was given. Every inactive case — unknown, expired, revoked, a disabled owner —
answers the same `{"active": false}`. Reading a credential here does not touch its
`last_used_at`: introspection is not a use."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.engine import Connection

from ..db.database import Database
from ..db.models import ApiKey, Token, User, as_utc
from .credentials import hash_token, is_key

INACTIVE: dict[str, Any] = {"active": False}
_users = cast(Table, User.__table__).c


def _statement(table: Table, hash_column: str, *extra: Any) -> Any:
    found = table.c
    return (
        select(found.id, found.created_at, found.expires_at, _users.id.label("user_id"),
               _users.email, _users.role, *extra)
        .select_from(table.join(User.__table__, _users.id == found.user_id))
        .where(
            found[hash_column] == bindparam("credential_hash"),
            found.expires_at > bindparam("now"),
            _users.status == "active",
        )
    )  # fmt: skip


_keys = cast(Table, ApiKey.__table__)
_BY_TOKEN = _statement(cast(Table, Token.__table__), "token_hash")
_BY_KEY = _statement(_keys, "key_hash", _keys.c.scopes)


async def introspect(db: Database, credential: str) -> dict[str, Any]:
    """RFC 7662 §2.2's answer for `credential`, with Roster's own members."""
    return await db.read(_introspect, credential, datetime.now(UTC))


def _introspect(connection: Connection, credential: str, now: datetime) -> dict[str, Any]:
    keyed = is_key(credential)
    params = {"credential_hash": hash_token(credential), "now": now}
    row = connection.execute(_BY_KEY if keyed else _BY_TOKEN, params).first()
    if row is None:
        return INACTIVE
    answer: dict[str, Any] = {
        "active": True,
        "token_type": "Bearer",
        "sub": str(row.user_id),
        "username": row.email,
        "iat": _epoch(row.created_at),
        "exp": _epoch(row.expires_at),
        "roster_kind": "key" if keyed else "session",
        "roster_role": row.role,
        "roster_credential_id": row.id,
    }
    if keyed:
        answer["scope"] = row.scopes
    return answer


def _epoch(moment: datetime) -> int:
    return int(as_utc(moment).timestamp())

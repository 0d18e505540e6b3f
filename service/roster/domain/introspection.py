"""Token introspection (RFC 7662, docs/API.md §2): what a gateway may know of a session token
or an API key it was given. Every inactive case — unknown, expired, revoked, a disabled owner —
answers the same `{"active": false}`. Reading a credential here does not touch its
`last_used_at`: introspection is not a use."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.engine import Connection

from ..db.database import Database
from ..db.models import ApiKey, Token, as_utc
from ..db.queries import caller_statements
from .credentials import hash_token, is_key

INACTIVE: dict[str, Any] = {"active": False}


def _statement(table: Table, hash_column: str, *extra: Any) -> Any:
    """A live credential of an active user, as authentication finds one (the same statement
    builder), with when it was issued and when it ends."""
    found = table.c
    issued = (found.created_at.label("iat"), found.expires_at.label("exp"))
    return caller_statements(table, hash_column, *issued, *extra)[0]


_keys = cast(Table, ApiKey.__table__)
_BY_TOKEN = _statement(cast(Table, Token.__table__), "token_hash")
_BY_KEY = _statement(_keys, "key_hash", _keys.c.scopes.label("scopes"))


async def introspect(db: Database, credential: str) -> dict[str, Any]:
    """RFC 7662 §2.2's answer for `credential`, with Roster's own members."""
    return await db.read(_introspect, credential, datetime.now(UTC))


def _introspect(connection: Connection, credential: str, now: datetime) -> dict[str, Any]:
    keyed = is_key(credential)
    params = {"token_hash": hash_token(credential), "now": now}
    row = connection.execute(_BY_KEY if keyed else _BY_TOKEN, params).first()
    if row is None:
        return INACTIVE
    answer: dict[str, Any] = {
        "active": True,
        "token_type": "Bearer",
        "sub": str(row.c_id),
        "username": row.c_email,
        "iat": _epoch(row.iat),
        "exp": _epoch(row.exp),
        "roster_kind": "key" if keyed else "session",
        "roster_role": row.c_role,
        "roster_credential_id": row.token_id,
    }
    if keyed:
        answer["scope"] = row.scopes
    return answer


def _epoch(moment: datetime) -> int:
    return int(as_utc(moment).timestamp())

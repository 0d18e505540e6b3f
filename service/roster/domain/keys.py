"""API keys (docs/API.md §2): long-lived credentials for programs, each narrowed to scopes.

A key is its owner acting within its scopes, with the owner's rights *now* (`Caller.allows`):
nothing about the owner is copied into the key. Its secret is shown once and kept only as a
hash. It ends when revoked (by its owner or an admin), when it expires, and with its owner's
password, status or account (`revoke_all`, in that change's transaction); every request reads
the key, so an ended key is refused at once in every worker and host.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..db.audit import Origin
from ..db.database import Database
from ..db.models import ApiKey, User, as_utc
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..schemas import ADMIN_SCOPES, KeyOut, NewKeyOut, UserOut
from .audit import key_event
from .credentials import PREFIX_LENGTH, new_key

DEFAULT_LIFETIME = timedelta(days=90)
LONGEST_LIFETIME = timedelta(days=366)
KEY_NOT_FOUND = "API key not found"
ADMIN_SCOPE = "Only an admin may hold the scope {scope}"


@dataclass(frozen=True)
class KeyRequest:
    name: str
    scopes: list[str]  # known and distinct (the body's validation)
    expires_at: datetime | None


async def create_key(
    db: Database, owner: UserOut, wanted: KeyRequest, most: int, origin: Origin
) -> NewKeyOut:
    """A new key of `owner` (the secret in `key`, this once): 403 for a scope the owner's role
    does not allow, 422 for an expiry outside its bounds, 409 beyond `most` live keys."""
    for scope in wanted.scopes:
        if scope in ADMIN_SCOPES and owner.role != "admin":
            message = ADMIN_SCOPE.format(scope=scope)
            raise Forbidden(message, details={"scopes": message})
    now = datetime.now(UTC)
    expires_at = _expiry(wanted.expires_at, now)
    return await db.write(_insert, owner.id, wanted, expires_at, most, origin, now)


async def list_keys(db: Database, user_id: int) -> list[KeyOut]:
    """The user's live keys, newest first."""
    return await db.read(_live_keys, user_id, datetime.now(UTC))


async def get_key(db: Database, user_id: int, key_id: int) -> KeyOut:
    """One of the user's live keys; 404 for another user's, or an unknown one."""
    found = await db.read(_live_keys, user_id, datetime.now(UTC), key_id)
    if not found:
        raise NotFound(KEY_NOT_FOUND)
    return found[0]


async def revoke_key(db: Database, user_id: int, key_id: int, origin: Origin) -> None:
    """End one of the user's live keys; 404 for another user's, or an unknown one."""
    if not await db.write(_revoke, user_id, key_id, origin, datetime.now(UTC)):
        raise NotFound(KEY_NOT_FOUND)


def revoke_all(
    session: Session, origin: Origin, user_id: int, reason: str | None, now: datetime
) -> None:
    """Every key of the user ends, in the caller's transaction (a password change or reset, a
    disabling, a deletion), each live one recorded as revoked for `reason` (None: a deletion,
    whose own event says it all): the caller commits."""
    ended = session.execute(
        delete(ApiKey).where(ApiKey.user_id == user_id).returning(*_REVOKED)
    ).all()
    if reason is not None:
        for key in ended:
            if as_utc(key.expires_at) > now:
                key_event(session, origin, user_id, key, now, reason)


def _expiry(asked: datetime | None, now: datetime) -> datetime:
    if asked is None:
        return now + DEFAULT_LIFETIME
    if asked <= now:
        raise ValidationFailed(details={"expires_at": "Must be in the future"})
    if asked > now + LONGEST_LIFETIME:
        raise ValidationFailed(details={"expires_at": "Must be at most 366 days ahead"})
    return asked


def _insert(
    session: Session,
    user_id: int,
    wanted: KeyRequest,
    expires_at: datetime,
    most: int,
    origin: Origin,
    now: datetime,
) -> NewKeyOut:
    # The owner's row, locked: two creations at once count each other's key (PostgreSQL;
    # SQLite has one writer).
    owner = session.scalar(select(User.id).where(User.id == user_id).with_for_update())
    if owner is None:
        raise NotFound("User not found")
    live = session.scalar(
        select(func.count())
        .select_from(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.expires_at > now)
    )
    if (live or 0) >= most:
        message = f"At most {most} live API keys per user"
        raise Conflict(message, details={"keys": message})
    session.execute(delete(ApiKey).where(ApiKey.user_id == user_id, ApiKey.expires_at <= now))
    secret, secret_hash = new_key()
    key = ApiKey(
        key_hash=secret_hash,
        user_id=user_id,
        name=wanted.name,
        scopes=" ".join(wanted.scopes),
        prefix=secret[:PREFIX_LENGTH],
        created_at=now,
        expires_at=expires_at,
        last_used_at=None,
    )
    session.add(key)
    session.flush()  # the key's id, for its event
    key_event(session, origin, user_id, key, now)
    session.commit()
    return NewKeyOut(**_out(key).model_dump(), key=secret)


def _live_keys(
    connection: Connection, user_id: int, now: datetime, key_id: int | None = None
) -> list[KeyOut]:
    statement = select(*_KEY_COLUMNS).where(ApiKey.user_id == user_id, ApiKey.expires_at > now)
    if key_id is not None:
        statement = statement.where(ApiKey.id == key_id)
    rows = connection.execute(statement.order_by(ApiKey.created_at.desc(), ApiKey.id.desc()))
    return [_out(row) for row in rows]


def _revoke(session: Session, user_id: int, key_id: int, origin: Origin, now: datetime) -> bool:
    revoked = session.execute(
        delete(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.user_id == user_id, ApiKey.expires_at > now)
        .returning(*_REVOKED)
    ).first()
    if revoked is not None:
        key_event(session, origin, user_id, revoked, now, "revoked")
    session.commit()
    return revoked is not None


_REVOKED = (ApiKey.id, ApiKey.prefix, ApiKey.scopes, ApiKey.expires_at)  # for the event
_KEY_COLUMNS = (
    ApiKey.id,
    ApiKey.name,
    ApiKey.scopes,
    ApiKey.prefix,
    ApiKey.created_at,
    ApiKey.expires_at,
    ApiKey.last_used_at,
)


def _out(key: Any) -> KeyOut:
    """The representation of a key's row or ORM object (`scopes` stored space-separated)."""
    return KeyOut(
        id=key.id,
        name=key.name,
        scopes=key.scopes.split(),
        prefix=key.prefix,
        created_at=key.created_at,
        expires_at=key.expires_at,
        last_used_at=key.last_used_at,
    )

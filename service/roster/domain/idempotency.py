"""Idempotency keys: the first outcome of a request is stored and replayed for its retries.

A key is claimed (a row with no status) before the work runs, so concurrent requests with one
key, in any worker or host, see it in flight; the outcome is then stored, or the claim released
when the outcome is not one to keep.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db.database import Database
from ..db.models import IdempotencyKey, as_utc
from ..errors import IdempotencyKeyInUse, IdempotencyKeyReused, ValidationFailed

# A claim this old whose request never finished (its worker died) may be taken over.
ABANDONED_AFTER = timedelta(minutes=5)
TOO_DEEP = "Nested too deeply"


@dataclass(frozen=True)
class Claim:
    scope: str
    key: str


@dataclass(frozen=True)
class StoredOutcome:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


def request_fingerprint(body: Any) -> str:
    """The same JSON value gives the same fingerprint, however it was spelled.

    A body nested deeper than can be written back out is no user either: 422, as without a key.
    """
    try:
        canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        raise ValidationFailed(details={"body": TOO_DEEP}) from None
    return hashlib.sha256(canonical).hexdigest()


async def claim(
    db: Database, claim: Claim, fingerprint: str, ttl_seconds: int
) -> StoredOutcome | None:
    """Claim the key for this request, or return the stored outcome to replay.

    422 when the key was used with another body; 409 while its first request is running.
    """
    return await db.write(_claim, claim, fingerprint, ttl_seconds)


async def store(
    db: Database, claim: Claim, status: int, body: dict[str, Any], headers: dict[str, str]
) -> None:
    await db.write(_store, claim, status, body, headers)


async def release(db: Database, claim: Claim) -> None:
    """Forget an in-flight claim whose outcome is not stored (400, 422, 5xx)."""
    await db.write(_release, claim)


def _claim(
    session: Session, claim: Claim, fingerprint: str, ttl_seconds: int
) -> StoredOutcome | None:
    now = datetime.now(UTC)
    row = _find(session, claim)
    if row is not None and _reusable(row, now):
        session.delete(row)
        session.flush()
        row = None
    if row is not None:
        session.commit()
        return _existing(row, fingerprint)
    session.add(
        IdempotencyKey(
            scope=claim.scope,
            key=claim.key,
            request_hash=fingerprint,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
    )
    try:
        session.commit()
    except IntegrityError:  # claimed by a concurrent request (another worker) a moment ago
        session.rollback()
        raise IdempotencyKeyInUse() from None
    return None


def _store(
    session: Session, claim: Claim, status: int, body: dict[str, Any], headers: dict[str, str]
) -> None:
    row = _find(session, claim)
    if row is not None:
        row.status = status
        row.body = orjson.dumps(body).decode()
        row.headers = orjson.dumps(headers).decode()
    session.commit()


def _release(session: Session, claim: Claim) -> None:
    session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.scope == claim.scope,
            IdempotencyKey.key == claim.key,
            IdempotencyKey.status.is_(None),
        )
    )
    session.commit()


def _find(session: Session, claim: Claim) -> IdempotencyKey | None:
    statement = select(IdempotencyKey).where(
        IdempotencyKey.scope == claim.scope, IdempotencyKey.key == claim.key
    )
    return session.scalar(statement.with_for_update())


def _reusable(row: IdempotencyKey, now: datetime) -> bool:
    expired = as_utc(row.expires_at) <= now
    abandoned = row.status is None and as_utc(row.created_at) <= now - ABANDONED_AFTER
    return expired or abandoned


def _existing(row: IdempotencyKey, fingerprint: str) -> StoredOutcome:
    if row.request_hash != fingerprint:
        raise IdempotencyKeyReused(details={"Idempotency-Key": "Used with a different body"})
    if row.status is None or row.body is None:
        raise IdempotencyKeyInUse(details={"Idempotency-Key": "The first request is running"})
    headers: dict[str, str] = orjson.loads(row.headers or "{}")
    return StoredOutcome(status=row.status, body=orjson.loads(row.body), headers=headers)

"""Login rate limiting, kept in the database so that every worker and host shares it.

Every attempt is recorded, allowed or not; an attempt is allowed while the window holds at most
`limit` attempts, this one included.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import writing
from ..errors import RateLimited
from ..models import LoginAttempt
from ..settings import RateLimit


def attempt_key(normalized_email: str) -> str:
    return hashlib.sha256(normalized_email.encode("utf-8", "surrogatepass")).hexdigest()


async def record_login_attempt(session: AsyncSession, email: str, rule: RateLimit) -> None:
    """Count this attempt; 429 with Retry-After when it is one too many."""
    key_hash = attempt_key(email)
    now = datetime.now(UTC)
    window_start = now - timedelta(seconds=rule.window_seconds)
    async with writing(session):
        await _serialize_per_key(session, key_hash)
        session.add(LoginAttempt(key_hash=key_hash, attempted_at=now))
        await session.flush()
        recent = (LoginAttempt.key_hash == key_hash, LoginAttempt.attempted_at > window_start)
        count = await session.scalar(select(func.count()).where(*recent)) or 0
        retry_after = None
        if count > rule.limit:
            # The next attempt is allowed once the limit-th newest attempt has left the window.
            oldest_kept = await session.scalar(
                select(LoginAttempt.attempted_at)
                .where(*recent)
                .order_by(LoginAttempt.attempted_at.desc())
                .offset(rule.limit - 1)
                .limit(1)
            )
            retry_after = _seconds_until(oldest_kept, rule.window_seconds, now)
        await session.commit()
    if retry_after is not None:
        seconds = str(retry_after)
        raise RateLimited(
            details={"Retry-After": f"Retry in {seconds} seconds"},
            headers={"Retry-After": seconds},
        )


async def purge_login_attempts(session: AsyncSession, older_than: datetime) -> int:
    async with writing(session):
        result = await session.execute(
            delete(LoginAttempt).where(LoginAttempt.attempted_at <= older_than)
        )
        await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


async def _serialize_per_key(session: AsyncSession, key_hash: str) -> None:
    """On PostgreSQL, attempts for one email count one at a time (SQLite writes already do)."""
    if session.get_bind().dialect.name == "postgresql":
        lock_id = int(key_hash[:15], 16)
        await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})


def _seconds_until(oldest_kept: datetime | None, window_seconds: int, now: datetime) -> int:
    if oldest_kept is None:
        return window_seconds
    if oldest_kept.tzinfo is None:
        oldest_kept = oldest_kept.replace(tzinfo=UTC)
    remaining = (oldest_kept + timedelta(seconds=window_seconds) - now).total_seconds()
    return min(max(math.ceil(remaining), 1), window_seconds)

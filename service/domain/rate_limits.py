"""Login rate limiting, kept in the database so that every worker and host shares it.

Every attempt is recorded, allowed or not; an attempt is allowed while the window holds at most
`limit` attempts, this one included.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ..db.models import LoginAttempt
from ..errors import RateLimited
from ..settings import RateLimit


def attempt_key(normalized_email: str) -> str:
    return hashlib.sha256(normalized_email.encode("utf-8", "surrogatepass")).hexdigest()


def count_attempt(session: Session, email: str, rule: RateLimit, now: datetime) -> None:
    """Record this attempt (in the caller's transaction); 429 when it is one too many.

    The caller commits, also when this raises: refused attempts count too.
    """
    key_hash = attempt_key(email)
    _serialize_per_key(session, key_hash)
    session.add(LoginAttempt(key_hash=key_hash, attempted_at=now))
    session.flush()
    window_start = now - timedelta(seconds=rule.window_seconds)
    recent = (LoginAttempt.key_hash == key_hash, LoginAttempt.attempted_at > window_start)
    count = session.scalar(select(func.count()).where(*recent)) or 0
    if count <= rule.limit:
        return
    # The next attempt is allowed once the limit-th newest attempt has left the window.
    oldest_kept = session.scalar(
        select(LoginAttempt.attempted_at)
        .where(*recent)
        .order_by(LoginAttempt.attempted_at.desc())
        .offset(rule.limit - 1)
        .limit(1)
    )
    seconds = str(_seconds_until(oldest_kept, rule.window_seconds, now))
    raise RateLimited(
        details={"Retry-After": f"Retry in {seconds} seconds"}, headers={"Retry-After": seconds}
    )


def _serialize_per_key(session: Session, key_hash: str) -> None:
    """On PostgreSQL, attempts for one email count one at a time (SQLite writes already do)."""
    if session.get_bind().dialect.name == "postgresql":
        lock_id = int(key_hash[:15], 16)
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})


def _seconds_until(oldest_kept: datetime | None, window_seconds: int, now: datetime) -> int:
    if oldest_kept is None:
        return window_seconds
    if oldest_kept.tzinfo is None:
        oldest_kept = oldest_kept.replace(tzinfo=UTC)
    remaining = (oldest_kept + timedelta(seconds=window_seconds) - now).total_seconds()
    return min(max(math.ceil(remaining), 1), window_seconds)

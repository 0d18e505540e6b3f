"""Housekeeping, every few minutes, in one place: expired idempotency keys, login attempts older
than the rate limit's window, expired tokens."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from ..db.database import Database
from ..db.models import IdempotencyKey, LoginAddress, LoginAttempt, Token
from ..settings import Settings

logger = logging.getLogger("roster.housekeeping")
INTERVAL_SECONDS = 300


async def purge(db: Database, settings: Settings, now: datetime) -> None:
    limits = settings.login_limits
    keys = await db.write(_delete, delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now))
    window = now - limits.longest_window
    attempts = await db.write(
        _delete, delete(LoginAttempt).where(LoginAttempt.attempted_at <= window)
    )
    tokens = await db.write(_delete, delete(Token).where(Token.expires_at <= now))
    forgotten = now - limits.known_for
    addresses = await db.write(
        _delete, delete(LoginAddress).where(LoginAddress.last_success_at <= forgotten)
    )
    logger.debug(
        "purged %d idempotency keys, %d login attempts, %d tokens, %d login addresses",
        keys,
        attempts,
        tokens,
        addresses,
    )


async def purge_forever(db: Database, settings: Settings) -> None:
    """Run `purge` every INTERVAL_SECONDS until cancelled; a failed round is logged and retried."""
    while True:
        await asyncio.sleep(INTERVAL_SECONDS)
        try:
            await purge(db, settings, datetime.now(UTC))
        except Exception:
            logger.warning("purge failed; will retry", exc_info=True)


def _delete(session: Session, statement: Any) -> int:
    result = session.execute(statement)
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)

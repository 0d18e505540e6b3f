"""Housekeeping every few minutes: expired idempotency keys, old login attempts, dead tokens."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from .db import Database
from .models import Token
from .services.idempotency import purge_expired
from .services.rate_limits import purge_login_attempts
from .settings import Settings

logger = logging.getLogger("roster.maintenance")
INTERVAL_SECONDS = 300


async def purge(db: Database, settings: Settings, now: datetime) -> None:
    window = timedelta(seconds=settings.login_rate_limit.window_seconds)
    keys = await db.write(purge_expired, now)
    attempts = await db.write(purge_login_attempts, now - window)
    await db.write(_purge_tokens, now)
    logger.debug("purged %d idempotency keys and %d login attempts", keys, attempts)


async def purge_forever(db: Database, settings: Settings) -> None:
    """Run `purge` every INTERVAL_SECONDS until cancelled; a failed round is logged and retried."""
    while True:
        await asyncio.sleep(INTERVAL_SECONDS)
        try:
            await purge(db, settings, datetime.now(UTC))
        except Exception:
            logger.warning("purge failed; will retry", exc_info=True)


def _purge_tokens(session: Session, now: datetime) -> None:
    session.execute(delete(Token).where(Token.expires_at <= now))
    session.commit()

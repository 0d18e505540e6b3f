"""Housekeeping every few minutes: expired idempotency keys, old login attempts, dead tokens."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .db import writing
from .models import Token
from .services.idempotency import purge_expired
from .services.rate_limits import purge_login_attempts
from .settings import Settings

logger = logging.getLogger("roster.maintenance")
INTERVAL_SECONDS = 300


async def purge(session: AsyncSession, settings: Settings, now: datetime) -> None:
    keys = await purge_expired(session, now)
    window = timedelta(seconds=settings.login_rate_limit.window_seconds)
    attempts = await purge_login_attempts(session, now - window)
    async with writing(session):
        await session.execute(delete(Token).where(Token.expires_at <= now))
        await session.commit()
    logger.debug("purged %d idempotency keys and %d login attempts", keys, attempts)


async def purge_forever(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    """Run `purge` every INTERVAL_SECONDS until cancelled; a failed round is logged and retried."""
    while True:
        await asyncio.sleep(INTERVAL_SECONDS)
        try:
            async with sessions() as session:
                await purge(session, settings, datetime.now(UTC))
        except Exception:
            logger.warning("purge failed; will retry", exc_info=True)

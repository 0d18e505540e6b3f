"""Housekeeping, every few minutes, in one place: expired idempotency keys, login and mail
request attempts older than the longest limit's window, expired tokens and mailed tokens, and
outbox records of messages done with for a week, audit events older than AUDIT_RETENTION_DAYS
(a batch at a time)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from ..db.database import Database
from ..db.models import (
    IdempotencyKey,
    LoginAddress,
    LoginAttempt,
    MailMessage,
    MailToken,
    Token,
)
from ..db.outbox import PENDING
from ..settings import Settings
from .audit import purge_expired

logger = logging.getLogger("roster.housekeeping")
INTERVAL_SECONDS = 300
OUTBOX_KEPT = timedelta(days=7)  # what became of a message, for an operator to look up


async def purge(db: Database, settings: Settings, now: datetime) -> None:
    limits = settings.login_limits
    keys = await db.write(_delete, delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now))
    longest = max(
        limits.longest_window, timedelta(seconds=settings.mail_request_rate_limit.window_seconds)
    )
    window = now - longest
    attempts = await db.write(
        _delete, delete(LoginAttempt).where(LoginAttempt.attempted_at <= window)
    )
    tokens = await db.write(_delete, delete(Token).where(Token.expires_at <= now))
    forgotten = now - limits.known_for
    addresses = await db.write(
        _delete, delete(LoginAddress).where(LoginAddress.last_success_at <= forgotten)
    )
    mailed = await db.write(_delete, delete(MailToken).where(MailToken.expires_at <= now))
    done = (MailMessage.state != PENDING, MailMessage.created_at <= now - OUTBOX_KEPT)
    messages = await db.write(_delete, delete(MailMessage).where(*done))
    events = await purge_expired(db, settings.audit_retention_days, now)
    logger.debug(
        "purged %d idempotency keys, %d login attempts, %d tokens, %d login addresses, "
        "%d mailed tokens, %d outbox records, %d audit events",
        keys,
        attempts,
        tokens,
        addresses,
        mailed,
        messages,
        events,
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

"""The one-use tokens mail carries (password resets, email verifications): issued in the
transaction that queues their message, kept only as hashes, bound to the address they were
sent to, and spent by the confirmation that uses them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..db.models import MailToken, User
from .credentials import hash_token, new_token


def issue(
    session: Session, user_id: int, purpose: str, email: str, lifetime: timedelta, now: datetime
) -> str:
    """A fresh token for `email`, joining the caller's transaction: the token itself."""
    token, token_hash = new_token()
    session.add(
        MailToken(
            user_id=user_id,
            purpose=purpose,
            token_hash=token_hash,
            email=email,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return token


def holder(session: Session, token: str, purpose: str, now: datetime, *also: Any) -> User | None:
    """The user (locked) a live, unspent token of `purpose` names, while their email is still
    the one it was sent to, and `also` holds; None for any other token."""
    return session.scalars(
        select(User)
        .join(MailToken, User.id == MailToken.user_id)
        .where(
            MailToken.token_hash == hash_token(token),
            MailToken.purpose == purpose,
            MailToken.used_at.is_(None),
            MailToken.expires_at > now,
            MailToken.email == User.email,  # bound to the address it was sent to
            *also,
        )
        .with_for_update()
    ).first()


def spend_all(session: Session, user_id: int, purpose: str, now: datetime) -> None:
    """Every unspent token of `purpose` of the user is used up (in the caller's transaction)."""
    session.execute(
        update(MailToken)
        .where(
            MailToken.user_id == user_id,
            MailToken.purpose == purpose,
            MailToken.used_at.is_(None),
        )
        .values(used_at=now)
    )

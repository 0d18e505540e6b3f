"""Logging in and out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..auth import new_token
from ..db import Database
from ..errors import RateLimited, Unauthorized
from ..models import Token, User
from ..passwords import Passwords
from ..schemas import TokenCreate, TokenOut, normalize_email
from ..settings import RateLimit
from .rate_limits import count_attempt
from .users import set_password_hash

BAD_CREDENTIALS = "Invalid email or password"
Credentials = tuple[int, str]  # a user's id and password hash


async def log_in(
    db: Database,
    passwords: Passwords,
    credentials: TokenCreate,
    ttl_seconds: int,
    rate_limit: RateLimit,
) -> TokenOut:
    """A new token for valid credentials; the same 401, in about the same time, otherwise.

    The attempt is counted, and refused with 429 when over the limit, before anything else.
    """
    email, password = normalize_email(credentials.email), credentials.password
    found = await db.write(_attempt, email, rate_limit)
    if isinstance(found, RateLimited):
        raise found
    if found is None:
        await passwords.verify_nobody(password)
        raise _bad_credentials()
    user_id, password_hash = found
    if not await passwords.verify(password_hash, password):
        raise _bad_credentials()
    if passwords.needs_rehash(password_hash):
        await set_password_hash(db, user_id, await passwords.hash(password))
    return await db.write(_issue_token, user_id, ttl_seconds)


async def log_out(db: Database, token_id: int) -> None:
    await db.write(_revoke_token, token_id)


def _attempt(session: Session, email: str, rule: RateLimit) -> Credentials | RateLimited | None:
    """Count the attempt, then (if allowed) find the credentials to check; one transaction."""
    try:
        count_attempt(session, email, rule, datetime.now(UTC))
    except RateLimited as refused:
        session.commit()
        return refused
    # No stored email holds a NUL (and PostgreSQL text cannot): unknown, without asking.
    row = None
    if "\x00" not in email:
        row = session.execute(
            select(User.id, User.password_hash).where(User.email == email)
        ).first()
    session.commit()
    return None if row is None else (row.id, row.password_hash)


def _issue_token(session: Session, user_id: int, ttl_seconds: int) -> TokenOut:
    token, token_hash = new_token()
    now = datetime.now(UTC)
    expires_at = now + timedelta(seconds=ttl_seconds)
    session.execute(delete(Token).where(Token.user_id == user_id, Token.expires_at <= now))
    session.add(
        Token(token_hash=token_hash, user_id=user_id, created_at=now, expires_at=expires_at)
    )
    try:
        session.commit()
    except IntegrityError:  # the user was deleted after the password was checked
        session.rollback()
        raise _bad_credentials() from None
    return TokenOut(token=token, expires_at=expires_at)


def _revoke_token(session: Session, token_id: int) -> None:
    session.execute(delete(Token).where(Token.id == token_id))
    session.commit()


def _bad_credentials() -> Unauthorized:
    return Unauthorized(BAD_CREDENTIALS, headers={"WWW-Authenticate": "Bearer"})

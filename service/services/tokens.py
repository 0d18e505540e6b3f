"""Logging in and out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth import new_token
from ..db import writing
from ..errors import Unauthorized
from ..models import Token, User
from ..passwords import Passwords
from ..schemas import TokenCreate, TokenOut, normalize_email
from ..settings import RateLimit
from .rate_limits import record_login_attempt
from .users import set_password_hash

BAD_CREDENTIALS = "Invalid email or password"


async def log_in(
    session: AsyncSession,
    passwords: Passwords,
    credentials: TokenCreate,
    ttl_seconds: int,
    rate_limit: RateLimit,
) -> TokenOut:
    """A new token for valid credentials; the same 401, in about the same time, otherwise.

    The attempt is counted, and refused with 429 when over the limit, before anything else.
    """
    email, password = normalize_email(credentials.email), credentials.password
    await record_login_attempt(session, email, rate_limit)
    # No stored email holds a NUL (and PostgreSQL text cannot): unknown, without asking.
    lookup = select(User).where(User.email == email)
    user = None if "\x00" in email else await session.scalar(lookup)
    if session.in_transaction():
        await session.commit()  # hold no connection while the password is checked
    if user is None:
        await passwords.verify_nobody(password)
        raise _bad_credentials()
    if not await passwords.verify(user.password_hash, password):
        raise _bad_credentials()
    if passwords.needs_rehash(user.password_hash):
        await set_password_hash(session, user.id, await passwords.hash(password))
    return await issue_token(session, user.id, ttl_seconds)


async def issue_token(session: AsyncSession, user_id: int, ttl_seconds: int) -> TokenOut:
    token, token_hash = new_token()
    now = datetime.now(UTC)
    expires_at = now + timedelta(seconds=ttl_seconds)
    async with writing(session):
        await session.execute(
            delete(Token).where(Token.user_id == user_id, Token.expires_at <= now)
        )
        session.add(
            Token(token_hash=token_hash, user_id=user_id, created_at=now, expires_at=expires_at)
        )
        await session.commit()
    return TokenOut(token=token, expires_at=expires_at)


async def log_out(session: AsyncSession, token_id: int) -> None:
    async with writing(session):
        await session.execute(delete(Token).where(Token.id == token_id))
        await session.commit()


def _bad_credentials() -> Unauthorized:
    return Unauthorized(BAD_CREDENTIALS, headers={"WWW-Authenticate": "Bearer"})

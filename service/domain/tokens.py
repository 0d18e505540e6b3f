"""Bearer tokens: issued at login, stored only as their SHA-256, and who presents one."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db.database import Database
from ..db.models import Token, User
from ..db.queries import caller_by_token
from ..errors import RateLimited, Unauthorized
from ..schemas import TokenOut, UserOut, normalize_email
from ..settings import RateLimit
from .passwords import Passwords
from .rate_limits import count_attempt
from .users import set_password_hash

BAD_CREDENTIALS = "Invalid email or password"
Credentials = tuple[int, str]  # a user's id and password hash


@dataclass(frozen=True)
class Caller:
    """Who presented a live token, and which token it was."""

    user: UserOut
    token_id: int

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"


@dataclass(frozen=True)
class Presented:
    """A live token's caller, and the user a request's path names (read with it)."""

    caller: Caller
    path_user: UserOut | None


def new_token() -> tuple[str, str]:
    """A fresh token (256 random bits) and the hash that is all the database keeps of it."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def authenticate(db: Database, token: str, path_user_id: int | None) -> Presented | None:
    """The caller of a live token (None when it is unknown, expired or revoked), and the user
    `path_user_id` names, in one query: an authenticated read is one round trip."""
    found = await db.read(caller_by_token, hash_token(token), datetime.now(UTC), path_user_id)
    if found is None:
        return None
    return Presented(Caller(found.caller, found.token_id), found.path_user)


async def log_in(
    db: Database,
    passwords: Passwords,
    email: str,
    password: str,
    ttl_seconds: int,
    rate_limit: RateLimit,
) -> TokenOut:
    """A new token for valid credentials; the same 401, in about the same time, otherwise.

    The attempt is counted, and refused with 429 when over the limit, before anything else.
    """
    email = normalize_email(email)
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

"""Bearer tokens: issued at login, stored only as their SHA-256, and who presents one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db.audit import Origin, record
from ..db.database import Database
from ..db.models import Token, User
from ..db.queries import Along, caller_by_key, caller_by_token
from ..errors import AccountDisabled, ApiError, EmailNotVerified, Unauthorized
from ..schemas import UNKNOWN_ADDRESS, TokenOut, UserOut, normalize_email
from ..settings import LoginLimits
from .audit import sessions_ended
from .credentials import hash_token, is_key, new_token
from .passwords import Passwords
from .rate_limits import (
    Window,
    count_attempt,
    is_known_address,
    limits_for,
    refusal,
    remember_address,
)
from .sessions import Caller, Touches, end_session, evict_least_recently_used
from .users import set_password_hash

BAD_CREDENTIALS = "Invalid email or password"
Credentials = tuple[int, str, str, bool]  # a user's id, password hash, status, email_verified


@dataclass(frozen=True)
class Presented:
    """A live token's caller, and the user a request's path names or the rows of a read along
    (read with it)."""

    caller: Caller
    path_user: UserOut | None
    along: list[Any] | None = None


async def authenticate(
    db: Database,
    credential: str,
    path_user_id: int | None,
    touches: Touches | None = None,
    key_touches: Touches | None = None,
    along: Along | None = None,
) -> Presented | None:
    """The caller of a live session token or API key of an active user (None when it is
    unknown, expired, revoked, or its user disabled), and the user `path_user_id` names or
    the rows of `along`, in one query: an authenticated read is one round trip, by token or by
    key. The use is noted for `last_used_at`."""
    now = datetime.now(UTC)
    keyed = is_key(credential)
    lookup = caller_by_key if keyed else caller_by_token
    found = await lookup(db, hash_token(credential), now, path_user_id, along)
    if found is None:
        return None
    noted = key_touches if keyed else touches
    if noted is not None:
        noted.note(found.token_id, found.token_last_used_at, now)
    if found.scopes is None:
        caller = Caller(found.caller, found.token_id)
    else:
        caller = Caller(found.caller, None, found.token_id, frozenset(found.scopes.split()))
    return Presented(caller, found.path_user, found.along)


@dataclass(frozen=True)
class LoginPolicy:
    ttl_seconds: int
    limits: LoginLimits
    max_tokens_per_user: int
    require_verified_email: bool = False


@dataclass(frozen=True)
class LoginAttempt:
    email: str
    password: str
    label: str | None
    client_address: str


@dataclass(frozen=True)
class LoginOutcome:
    """A login's rate-limit windows, and either its token or its refusal (401, 403, 429)."""

    windows: list[Window]
    token: TokenOut | None = None
    refusal: ApiError | None = None


async def log_in(
    db: Database,
    passwords: Passwords,
    attempt: LoginAttempt,
    policy: LoginPolicy,
    origin: Origin,
) -> LoginOutcome:
    """A new token for valid credentials of an active user; the same 401, in about the same
    time, for a wrong password or an unknown email; 403 `ACCOUNT_DISABLED` (then, when the
    policy requires it, `EMAIL_NOT_VERIFIED`) only once the password is right. The attempt is
    counted, and refused with 429 when over a limit, before anything else. Every attempt is
    an audit event, whatever its outcome."""
    email = normalize_email(attempt.email)
    windows, found = await db.write(
        _count_and_find, email, attempt.client_address, policy.limits, origin
    )
    refused = refusal(windows)
    if refused is not None:
        return LoginOutcome(windows, refusal=refused)
    if found is None:
        await passwords.verify_nobody(attempt.password)
        return await _refused(db, origin, windows, None, "bad_credentials", _bad_credentials())
    user_id, password_hash, status, email_verified = found
    if not await passwords.verify(password_hash, attempt.password):
        return await _refused(db, origin, windows, user_id, "bad_credentials", _bad_credentials())
    if status != "active":
        return await _refused(db, origin, windows, user_id, "disabled", AccountDisabled())
    if policy.require_verified_email and not email_verified:
        return await _refused(db, origin, windows, user_id, "unverified", EmailNotVerified())
    if passwords.needs_rehash(password_hash):
        await set_password_hash(db, user_id, await passwords.hash(attempt.password))
    token = await db.write(_issue_token, user_id, attempt, policy, origin)
    return LoginOutcome(windows, token=token)


async def log_out(db: Database, caller: Caller, origin: Origin) -> None:
    assert caller.token_id is not None, "a key is refused on the sessions routes"
    await end_session(db, caller.user.id, caller.token_id, origin, reason="logout")


async def _refused(
    db: Database,
    origin: Origin,
    windows: list[Window],
    user_id: int | None,
    reason: str,
    refused: ApiError,
) -> LoginOutcome:
    await db.write(_login_failed, origin, user_id, reason)
    return LoginOutcome(windows, refusal=refused)


def _login_failed(session: Session, origin: Origin, user_id: int | None, reason: str) -> None:
    record(session, origin, "login.failed", user_id, {"reason": reason}, datetime.now(UTC))
    session.commit()


def _count_and_find(
    session: Session, email: str, address: str, limits: LoginLimits, origin: Origin
) -> tuple[list[Window], Credentials | None]:
    """Find the credentials to check, and count the attempt under the limits that apply to
    it (an address the user logged in from lately is spared the per-account one); nothing
    to check when a limit refuses it. One transaction."""
    now = datetime.now(UTC)
    row = None
    # No stored email holds a NUL (and PostgreSQL text cannot): unknown, without asking.
    if "\x00" not in email:
        row = session.execute(
            select(User.id, User.password_hash, User.status, User.email_verified).where(
                User.email == email
            )
        ).first()
    known = row is not None and is_known_address(session, row.id, address, limits, now)
    windows = count_attempt(session, limits_for(limits, email, address, known), now)
    if refusal(windows) is not None:
        target = None if row is None else row.id
        record(session, origin, "login.failed", target, {"reason": "rate_limited"}, now)
    session.commit()
    if row is None or refusal(windows) is not None:
        return windows, None
    return windows, (row.id, row.password_hash, row.status, row.email_verified)


def _issue_token(
    session: Session, user_id: int, attempt: LoginAttempt, policy: LoginPolicy, origin: Origin
) -> TokenOut:
    token, token_hash = new_token()
    now = datetime.now(UTC)
    expires_at = now + timedelta(seconds=policy.ttl_seconds)
    evicted = evict_least_recently_used(session, user_id, policy.max_tokens_per_user - 1, now)
    sessions_ended(session, origin, user_id, evicted, "evicted", now)
    row = Token(
        token_hash=token_hash,
        user_id=user_id,
        created_at=now,
        expires_at=expires_at,
        last_used_at=now,
        label=attempt.label,
        client_address=None
        if attempt.client_address == UNKNOWN_ADDRESS
        else attempt.client_address,
    )
    session.add(row)
    remember_address(session, user_id, attempt.client_address, now)
    try:
        session.flush()  # the session's id, for the event
        record(session, origin, "login.succeeded", user_id, {"session_id": row.id}, now)
        session.commit()
    except IntegrityError:  # the user was deleted after the password was checked
        session.rollback()
        raise _bad_credentials() from None
    return TokenOut(id=row.id, token=token, expires_at=expires_at)


def _bad_credentials() -> Unauthorized:
    return Unauthorized(BAD_CREDENTIALS, headers={"WWW-Authenticate": "Bearer"})

"""Login rate limits (docs/API.md §2), kept in the database so that every worker and host
shares them:

- `email`: one normalised email from one client address (LOGIN_RATE_LIMIT, strict): guesses
  at one account from one place;
- `account`: one normalised email from every address together (LOGIN_ACCOUNT_RATE_LIMIT,
  looser), except from an address the user logged in from lately: guesses spread over many
  places, without letting anyone elsewhere lock the user out;
- `address`: every attempt from one client address (LOGIN_ADDRESS_RATE_LIMIT).

Every attempt is recorded under each limit that applies to it, allowed or not; an attempt is
allowed while every window holds at most its limit of attempts, this one included.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ..db.models import LoginAddress, LoginAttempt
from ..errors import RateLimited
from ..schemas import UNKNOWN_ADDRESS
from ..settings import LoginLimits, RateLimit


@dataclass(frozen=True)
class Limit:
    """A limit (`email` or `address`), its rule, and what it counts."""

    name: str
    rule: RateLimit
    counted: str


def limits_for(limits: LoginLimits, email: str, address: str, known: bool) -> list[Limit]:
    """The limits that count an attempt for `email` from `address` (`known`: the user logged
    in from there lately)."""
    applying = [Limit("email", limits.email, f"{email}\x00{address}")]
    if limits.account is not None and not known:
        applying.append(Limit("account", limits.account, email))
    if limits.address is not None:
        applying.append(Limit("address", limits.address, address))
    return applying


def is_known_address(
    session: Session, user_id: int, address: str, limits: LoginLimits, now: datetime
) -> bool:
    """Whether the user logged in from `address` within `limits.known_for`."""
    since = now - limits.known_for
    found = session.execute(
        select(LoginAddress.user_id).where(
            LoginAddress.user_id == user_id,
            LoginAddress.address == address,
            LoginAddress.last_success_at > since,
        )
    ).first()
    return found is not None


def remember_address(session: Session, user_id: int, address: str, now: datetime) -> None:
    """The user logged in from `address` now (in the caller's transaction)."""
    if address == UNKNOWN_ADDRESS:
        return
    known = session.get(LoginAddress, (user_id, address))
    if known is None:
        session.add(LoginAddress(user_id=user_id, address=address, last_success_at=now))
    else:
        known.last_success_at = now


@dataclass(frozen=True)
class Window:
    """A limit as this attempt left it."""

    name: str
    rule: RateLimit
    remaining: int  # attempts still allowed in the window
    reset_seconds: int  # until an attempt frees up (on a refusal: until one is allowed)
    exceeded: bool  # this attempt was one too many


def attempt_key(name: str, counted: str) -> str:
    """The hash an attempt is kept under, in a namespace per limit (an email and address's
    with no prefix)."""
    prefix = "" if name == "email" else f"{name}\x00"
    return hashlib.sha256(f"{prefix}{counted}".encode("utf-8", "surrogatepass")).hexdigest()


def count_attempt(session: Session, limits: list[Limit], now: datetime) -> list[Window]:
    """Record this attempt under every limit (in the caller's transaction, which commits);
    each limit's window as it now stands."""
    keys = {limit.name: attempt_key(limit.name, limit.counted) for limit in limits}
    _serialize(session, sorted(keys.values()))
    for key_hash in keys.values():
        session.add(LoginAttempt(key_hash=key_hash, attempted_at=now))
    session.flush()
    return [_window(session, limit, keys[limit.name], now) for limit in limits]


def refusal(windows: list[Window]) -> RateLimited | None:
    """429 when a window is exceeded, to retry once every exceeded one allows again."""
    exceeded = [window for window in windows if window.exceeded]
    if not exceeded:
        return None
    seconds = str(max(window.reset_seconds for window in exceeded))
    return RateLimited(
        details={"Retry-After": f"Retry in {seconds} seconds"}, headers={"Retry-After": seconds}
    )


def tightest(windows: list[Window]) -> Window:
    """The window the client should heed: the fewest attempts left (on a refusal, the one that
    frees up last, so that its `t` is the `Retry-After`)."""
    return min(windows, key=lambda window: (window.remaining, -window.reset_seconds))


def _window(session: Session, limit: Limit, key_hash: str, now: datetime) -> Window:
    rule = limit.rule
    start = now - timedelta(seconds=rule.window_seconds)
    recent = (LoginAttempt.key_hash == key_hash, LoginAttempt.attempted_at > start)
    count = session.scalar(select(func.count()).where(*recent)) or 0
    over = count > rule.limit
    # Allowed again once the limit-th newest attempt has left the window; otherwise one more
    # is allowed once the oldest has.
    offset = rule.limit - 1 if over else 0
    ordering = LoginAttempt.attempted_at.desc() if over else LoginAttempt.attempted_at.asc()
    moment = session.scalar(
        select(LoginAttempt.attempted_at).where(*recent).order_by(ordering).offset(offset).limit(1)
    )
    return Window(
        limit.name,
        rule,
        remaining=max(rule.limit - count, 0),
        reset_seconds=_seconds_until(moment, rule.window_seconds, now),
        exceeded=over,
    )


def _serialize(session: Session, key_hashes: list[str]) -> None:
    """On PostgreSQL, attempts under one key count one at a time (SQLite writes already do);
    locks taken in one order, so two attempts never wait for each other."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for key_hash in key_hashes:
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": int(key_hash[:15], 16)})


def _seconds_until(moment: datetime | None, window_seconds: int, now: datetime) -> int:
    if moment is None:
        return window_seconds
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    remaining = (moment + timedelta(seconds=window_seconds) - now).total_seconds()
    return min(max(math.ceil(remaining), 1), window_seconds)

"""Password resets (docs/API.md §6): a reset request, and its confirmation.

A request must not tell a registered address from one that is not — not by status, body,
headers, nor time. So the request's own work is the same for every address: count it against
the limits, and queue a *request* in the outbox, in one transaction; nothing on its path looks
the address up. The sender, later and off the request's path, writes the message: a fresh token
for an active user of that address, or nothing at all (`prepare`), at its next look rather
than woken by the request (what it does would otherwise run beside the request's answer).

A confirmation sets the password and, in the same transaction, ends every session and API key
of the user, spends every other reset token of theirs, verifies the address, lets their login
limits start afresh and queues a notice to the address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..db import outbox
from ..db.audit import Origin, record
from ..db.database import Database
from ..db.models import LoginAttempt, User
from ..db.outbox import Claimed
from ..errors import ValidationFailed
from ..mail.messages import Mail
from ..schemas import UNKNOWN_ADDRESS, normalize_email
from ..settings import LoginLimits, RateLimit, Settings
from . import mail_tokens
from .audit import sessions_ended
from .keys import revoke_all
from .passwords import Passwords
from .rate_limits import Limit, Window, attempt_key, count_attempt, limits_for, refusal
from .sessions import end_all

if TYPE_CHECKING:  # the sender runs this module's `prepare`: no import cycle at run time
    from .delivery import Sender

PASSWORD_RESET = "password_reset"  # noqa: S105 (an outbox kind and a token's purpose)
INVALID_TOKEN = "Invalid or expired token"  # noqa: S105 (a message)


@dataclass(frozen=True)
class MailLimits:
    """How often mail may be asked for: per normalised email, and per client address."""

    email: RateLimit
    address: RateLimit | None

    @classmethod
    def of(cls, settings: Settings) -> MailLimits:
        return cls(settings.mail_request_rate_limit, settings.login_limits.address)

    def applying(self, email: str, address: str) -> list[Limit]:
        limits = [Limit("mail", self.email, email)]
        if self.address is not None:  # the login limit's own window: mail counts toward it
            limits.append(Limit("address", self.address, address))
        return limits


async def ask_for_reset(
    db: Database, sender: Sender, settings: Settings, email: str, origin: Origin
) -> None:
    """Queue a reset request for `email` (normalised), or 429 when over a limit."""
    limits = MailLimits.of(settings)
    normalized = normalize_email(email)
    windows = await db.write(request_reset, normalized, origin, limits, datetime.now(UTC))
    refused = refusal(windows)
    if refused is not None:
        raise refused
    # Not at once: the sender's work differs by address (a token and a message, or nothing),
    # and woken now it would run beside this request's own answer, and show in its time.
    sender.written(at_once=False)


async def reset_password(
    db: Database,
    passwords: Passwords,
    sender: Sender,
    settings: Settings,
    confirmation: Confirmation,
    origin: Origin,
) -> None:
    """Set the password a reset token allows (422 for a token that allows nothing)."""
    password_hash = await passwords.hash(confirmation.password)
    await db.write(
        confirm_reset,
        confirmation.token,
        password_hash,
        origin,
        settings.login_limits,
        datetime.now(UTC),
    )
    sender.written()


class Confirmation(Protocol):
    token: str
    password: str


def request_reset(
    session: Session, email: str, origin: Origin, limits: MailLimits, now: datetime
) -> list[Window]:
    """Count the request and, if the limits allow it, queue it (a unit of work that commits).
    The same statements whatever the address: the limits' windows, as they now stand."""
    address = origin.client_address or UNKNOWN_ADDRESS
    windows = count_attempt(session, limits.applying(email, address), now)
    if refusal(windows) is None:
        outbox.enqueue_request(
            session, PASSWORD_RESET, email, now, origin.client_address, origin.request_id
        )
    session.commit()
    return windows


def prepare(
    session: Session, claimed: Claimed, settings: Settings, now: datetime
) -> Claimed | None:
    """The message of a claimed reset request: a token for the active user of its address, or
    None (the request is dropped). A unit of work that commits."""
    user = session.execute(
        select(User.id, User.name, User.email).where(
            User.email == claimed.mail.to, User.status == "active"
        )
    ).first()
    if user is None:
        outbox.drop(session, claimed, now)
        session.commit()
        return None
    lifetime = timedelta(seconds=settings.password_reset_ttl_seconds)
    token = mail_tokens.issue(session, user.id, PASSWORD_RESET, user.email, lifetime, now)
    written = outbox.write(session, claimed, reset_message(user.email, user.name, token, settings))
    # The request's event, written now that it is known to be for a user (anonymous, as asked).
    asked = Origin(None, None, None, claimed.client_address, claimed.request_id)
    record(session, asked, "password.reset_requested", user.id, {}, now)
    session.commit()
    return written


def confirm_reset(
    session: Session,
    token: str,
    password_hash: str,
    origin: Origin,
    limits: LoginLimits,
    now: datetime,
) -> None:
    """Set the password of a live reset token's user, and all that comes with it (a unit of work
    that commits); 422 for an unknown, used or expired token, or an inactive user."""
    user = mail_tokens.holder(session, token, PASSWORD_RESET, now, User.status == "active")
    if user is None:
        raise ValidationFailed(details={"token": INVALID_TOKEN})
    record(session, origin, "password.reset", user.id, {}, now)
    if not user.email_verified:  # the reset's mail reached the address
        record(session, origin, "email.verified", user.id, {"email": user.email}, now)
    user.password_hash = password_hash
    user.email_verified = True
    user.updated_at = now
    ended = end_all(session, user.id, None, now)
    sessions_ended(session, origin, user.id, ended, "password_reset", now)
    revoke_all(session, origin, user.id, "password_reset", now)
    mail_tokens.spend_all(session, user.id, PASSWORD_RESET, now)
    # The email's own limits, from this client address and from anywhere (not the address's).
    address = origin.client_address or UNKNOWN_ADDRESS
    fresh = [
        attempt_key(limit.name, limit.counted)
        for limit in limits_for(limits, user.email, address, known=False)
        if limit.name != "address"
    ]
    session.execute(delete(LoginAttempt).where(LoginAttempt.key_hash.in_(fresh)))
    outbox.enqueue(session, reset_notice(user.email, user.name), now)
    session.commit()


def reset_message(email: str, name: str, token: str, settings: Settings) -> Mail:
    minutes = settings.password_reset_ttl_seconds // 60
    body = (
        f"Hello {name},\n\n"
        "Someone asked to reset the password of the Roster account with this address.\n"
        f"To choose a new password, open this link within {minutes} minutes:\n\n"
        f"{settings.password_reset_link(token)}\n\n"
        "or give this token to the application that asked:\n\n"
        f"{token}\n\n"
        "If it was not you, do nothing: your password stays as it is.\n"
    )
    return Mail(email, "Reset your Roster password", body, name)


def reset_notice(email: str, name: str) -> Mail:
    body = (
        f"Hello {name},\n\n"
        "The password of your Roster account was just reset, and every session of the account\n"
        "was ended. If it was not you, reset it again at once and tell your administrator.\n"
    )
    return Mail(email, "Your Roster password was reset", body, name)

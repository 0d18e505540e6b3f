"""Email verification (docs/API.md §6, §3): the message at registration and at every email
change (with a notice to the old address), a new message on request, and the confirmation.

The token and its message are written in the transaction of the change that causes them, so a
registration or a change that fails sends nothing, and one that commits is mailed even if the
process dies next. A token is bound to the address it was sent to: once the email changes, the
tokens sent to the old one verify nothing (the confirmation compares the token's address with
the user's).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from ..db import outbox
from ..db.audit import Origin, record
from ..db.database import Database
from ..db.queries import user_out
from ..errors import Conflict, ValidationFailed
from ..mail.messages import Mail
from ..schemas import UserOut
from ..settings import Settings
from . import mail_tokens
from .delivery import Sender
from .rate_limits import Window, count_attempt, refusal
from .recovery import INVALID_TOKEN, MailLimits

EMAIL_VERIFICATION = "email_verification"  # a token's purpose
ALREADY_VERIFIED = "Email already verified"


@dataclass(frozen=True)
class Verifications:
    """What verification mail needs: its link and lifetime, the limits on asking for it, and
    the sender to wake once a transaction that queued some has committed."""

    settings: Settings
    sender: Sender

    def queue(self, session: Session, user_id: int, name: str, email: str, now: datetime) -> None:
        """A fresh token for `email`, and its message, joining the caller's transaction."""
        lifetime = timedelta(seconds=self.settings.email_verification_ttl_seconds)
        token = mail_tokens.issue(session, user_id, EMAIL_VERIFICATION, email, lifetime, now)
        outbox.enqueue(session, self.message(email, name, token), now)

    def queue_change(
        self, session: Session, user_id: int, name: str, old: str, new: str, now: datetime
    ) -> None:
        """The email became `new`: a verification to it, and a notice to `old`."""
        self.queue(session, user_id, name, new, now)
        outbox.enqueue(session, change_notice(old, new, name), now)

    def committed(self, messages: int) -> None:
        self.sender.written(messages)

    def message(self, email: str, name: str, token: str) -> Mail:
        within = _duration(self.settings.email_verification_ttl_seconds)
        body = (
            f"Hello {name},\n\n"
            "Please confirm that this address belongs to your Roster account.\n"
            f"Open this link within {within}:\n\n"
            f"{self.settings.email_verification_link(token)}\n\n"
            "or give this token to the application that asked:\n\n"
            f"{token}\n\n"
            "If you did not ask for a Roster account, do nothing.\n"
        )
        return Mail(email, "Verify your email address for Roster", body, name)


async def ask_for_verification(
    db: Database, verifications: Verifications, user: UserOut, address: str
) -> None:
    """A new verification message for the user's current email: 409 once it is verified, 429
    over the mail-request limits (which count the request)."""
    if user.email_verified:
        raise Conflict(ALREADY_VERIFIED, details={"email": ALREADY_VERIFIED})
    limits = MailLimits.of(verifications.settings)
    windows = await db.write(
        _request_verification, verifications, user, address, limits, datetime.now(UTC)
    )
    refused = refusal(windows)
    if refused is not None:
        raise refused
    verifications.committed(1)


async def verify_email(db: Database, token: str, origin: Origin) -> UserOut:
    """The user a live verification token names, now verified; 422 for any other token."""
    return await db.write(_confirm, token, origin, datetime.now(UTC))


def _request_verification(
    session: Session,
    verifications: Verifications,
    user: UserOut,
    address: str,
    limits: MailLimits,
    now: datetime,
) -> list[Window]:
    windows = count_attempt(session, limits.applying(user.email, address), now)
    if refusal(windows) is None:
        verifications.queue(session, user.id, user.name, user.email, now)
    session.commit()
    return windows


def _confirm(session: Session, token: str, origin: Origin, now: datetime) -> UserOut:
    user = mail_tokens.holder(session, token, EMAIL_VERIFICATION, now)
    if user is None:
        raise ValidationFailed(details={"token": INVALID_TOKEN})
    if not user.email_verified:
        user.email_verified = True
        user.updated_at = now
        record(session, origin, "email.verified", user.id, {"email": user.email}, now)
    # The address is proved: no token sent to it is needed any more.
    mail_tokens.spend_all(session, user.id, EMAIL_VERIFICATION, now)
    session.commit()
    return user_out(user)


def change_notice(old: str, new: str, name: str) -> Mail:
    body = (
        f"Hello {name},\n\n"
        f"The email address of your Roster account was just changed to {new}.\n"
        "Mail about the account goes there from now on. If it was not you, tell your\n"
        "administrator at once.\n"
    )
    return Mail(old, "Your Roster email address was changed", body, name)


def _duration(seconds: int) -> str:
    return f"{seconds // 3600} hours" if seconds >= 7200 else f"{max(seconds // 60, 1)} minutes"

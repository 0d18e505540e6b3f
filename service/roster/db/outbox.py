"""The mail outbox's statements (docs/API.md §6, Delivery), as units of work.

`enqueue` runs inside the write that causes a message, so the message exists if and only if
that write commits. `claim` takes a batch of due messages with a lease: on PostgreSQL the rows
are locked with SKIP LOCKED, so senders in other workers and hosts pass over them instead of
waiting; SQLite's single writer makes the same UPDATE whole. The lease (`claimed_until`) is also
the claim's mark: the outcome of a send is recorded only where the lease is still the one taken,
so a sender that overran its lease cannot record over the one that took the message next.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..mail.messages import Mail
from .models import MailMessage, as_utc

PENDING, SENT, GIVEN_UP, DROPPED = "pending", "sent", "given_up", "dropped"
MESSAGE = "message"  # a kind: the message is written; others are written by the sender
ERROR_LENGTH = 500


@dataclass(frozen=True)
class Claimed:
    id: int
    mail: Mail  # its body empty while the sender has yet to write it (`written`)
    attempts: int  # sends tried before this one
    created_at: datetime
    lease: datetime
    kind: str = MESSAGE
    written: bool = True
    # Where a request came from (its audit event's, written when the sender acts on it).
    client_address: str | None = None
    request_id: str | None = None


def enqueue(session: Session, mail: Mail, now: datetime) -> None:
    """The message joins the outbox when the caller's transaction commits."""
    _add(session, MESSAGE, mail.to, now, mail.to_name, mail.subject, mail.body)


def enqueue_request(
    session: Session,
    kind: str,
    to: str,
    now: datetime,
    client_address: str | None,
    request_id: str | None,
) -> None:
    """A request whose message the sender writes when it claims it (`kind`, to `to`): the
    caller's transaction does the same work whatever the message will be, or if none. Where it
    came from is kept for the audit event the sender may write."""
    _add(session, kind, to, now, requested=(client_address, request_id))


def _add(
    session: Session,
    kind: str,
    to: str,
    now: datetime,
    to_name: str | None = None,
    subject: str = "",
    body: str | None = None,
    requested: tuple[str | None, str | None] = (None, None),
) -> None:
    session.add(
        MailMessage(
            kind=kind,
            recipient=to,
            recipient_name=to_name,
            subject=subject,
            body=body,
            state=PENDING,
            attempts=0,
            created_at=now,
            next_attempt_at=now,
            client_address=requested[0],
            request_id=requested[1],
        )
    )


def write(session: Session, claimed: Claimed, mail: Mail) -> Claimed:
    """The sender has written a request's message (in its transaction): sent from now on as
    any other."""
    session.execute(
        update(MailMessage)
        .where(_held(claimed))
        .values(recipient_name=mail.to_name, subject=mail.subject, body=mail.body)
    )
    return replace(claimed, mail=mail, written=True)


def drop(session: Session, claimed: Claimed, now: datetime) -> None:
    """A request that gives no message (no active user has that address)."""
    session.execute(
        update(MailMessage)
        .where(_held(claimed))
        .values(state=DROPPED, sent_at=now, claimed_until=None)
    )


def _due(now: datetime) -> list[ColumnElement[bool]]:
    return [
        MailMessage.state == PENDING,
        MailMessage.next_attempt_at <= now,
        or_(MailMessage.claimed_until.is_(None), MailMessage.claimed_until < now),
    ]


def claim(session: Session, now: datetime, lease: timedelta, limit: int) -> list[Claimed]:
    """Up to `limit` due messages, oldest first, hidden from other senders until the lease
    ends."""
    due = (
        select(MailMessage.id)
        .where(*_due(now))
        .order_by(MailMessage.next_attempt_at, MailMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(session.scalars(due))
    if not ids:
        session.commit()
        return []
    until = now + lease
    rows = session.execute(
        update(MailMessage)
        .where(MailMessage.id.in_(ids), *_due(now))
        .values(claimed_until=until)
        .returning(
            MailMessage.id,
            MailMessage.recipient,
            MailMessage.recipient_name,
            MailMessage.subject,
            MailMessage.body,
            MailMessage.attempts,
            MailMessage.created_at,
            MailMessage.kind,
            MailMessage.client_address,
            MailMessage.request_id,
        )
    ).all()
    session.commit()
    return sorted(
        (
            Claimed(
                row.id,
                Mail(row.recipient, row.subject, row.body or "", row.recipient_name),
                row.attempts,
                as_utc(row.created_at),
                until,
                row.kind,
                written=row.body is not None,
                client_address=row.client_address,
                request_id=row.request_id,
            )
            for row in rows
        ),
        key=lambda claimed: claimed.id,
    )


def _held(claimed: Claimed) -> ColumnElement[bool]:
    return and_(MailMessage.id == claimed.id, MailMessage.claimed_until == claimed.lease)


def record_sent(session: Session, claimed: Claimed, now: datetime) -> None:
    """Sent: the body is not kept."""
    session.execute(
        update(MailMessage)
        .where(_held(claimed))
        .values(state=SENT, sent_at=now, body=None, claimed_until=None, last_error=None)
    )
    session.commit()


def record_failure(
    session: Session, claimed: Claimed, error: str, retry_at: datetime | None
) -> None:
    """A failed attempt: tried again at `retry_at`, or given up (None), its body dropped."""
    values: dict[str, object] = {
        "attempts": MailMessage.attempts + 1,
        "claimed_until": None,
        "last_error": error[:ERROR_LENGTH],
    }
    if retry_at is None:
        values.update(state=GIVEN_UP, body=None)
    else:
        values["next_attempt_at"] = retry_at
    session.execute(update(MailMessage).where(_held(claimed)).values(values))
    session.commit()


def any_due(connection: Connection, now: datetime) -> bool:
    """Whether a message is due (a read: the claim, a write, only when there is one)."""
    due = select(MailMessage.id).where(*_due(now)).limit(1)
    return connection.execute(due).first() is not None


def oldest_unsent(connection: Connection) -> datetime | None:
    """When the oldest message still pending was written."""
    created: datetime | None = connection.execute(
        select(func.min(MailMessage.created_at)).where(MailMessage.state == PENDING)
    ).scalar()
    return None if created is None else as_utc(created)

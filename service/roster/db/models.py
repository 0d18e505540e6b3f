"""ORM models: the tables Alembic migrates. Never returned to clients directly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON as Json
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ..schemas import DEFAULT_ROLE, DEFAULT_STATUS, Role, Status

# Stable constraint names, so migrations match on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL; on SQLite only INTEGER is the rowid alias that autoincrements.
Id = BigInteger().with_variant(Integer(), "sqlite")
UtcDateTime = DateTime(timezone=True)


def as_utc(moment: datetime) -> datetime:
    """A time read back: SQLite returns the UTC times it was given without their zone."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    __tablename__ = "users"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    # True once the user proved they receive mail at `email` (docs/API.md §6).
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(String(16), default=DEFAULT_ROLE)
    status: Mapped[Status] = mapped_column(
        String(16), default=DEFAULT_STATUS, server_default=DEFAULT_STATUS
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


# Every list walks an index in its order, `id` breaking ties, never sorting the table: one per
# sort and direction, and the same behind the filters' (role, status) prefix.
SORTED_COLUMNS = ("name", "created_at")


def _list_indexes(users: Any) -> None:
    Index("ix_users_role_status_id", users.role, users.status, users.id)
    Index("ix_users_role_status_email", users.role, users.status, users.email)
    for name in SORTED_COLUMNS:
        column = users[name]
        Index(f"ix_users_{name}_id", column, users.id)
        Index(f"ix_users_{name}_desc_id", column.desc(), users.id)
        Index(f"ix_users_role_status_{name}_id", users.role, users.status, column, users.id)
        Index(
            f"ix_users_role_status_{name}_desc_id",
            users.role,
            users.status,
            column.desc(),
            users.id,
        )


_list_indexes(User.__table__.c)


class Token(Base):
    """A bearer token (a session), stored only as the SHA-256 of its value."""

    __tablename__ = "tokens"
    __table_args__ = (Index("ix_tokens_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    label: Mapped[str | None] = mapped_column(String(100))
    client_address: Mapped[str | None] = mapped_column(String(45))
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ApiKey(Base):
    """An API key (docs/API.md §2): a long-lived credential for programs, narrowed to its
    scopes, stored only as the SHA-256 of its secret; `prefix` is the secret's first 9
    characters, shown so that people can tell keys apart."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[str] = mapped_column(String(200))  # space-separated, as RFC 6749's `scope`
    prefix: Mapped[str] = mapped_column(String(9))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AuditEvent(Base):
    """One event of the audit log (docs/API.md §7), written in the transaction of its change.
    No foreign keys: an event outlives the user, session or key it names."""

    __tablename__ = "audit_events"
    __table_args__ = ({"sqlite_autoincrement": True},)  # an id is never reused after a purge

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    credential_kind: Mapped[str | None] = mapped_column(String(8))
    credential_id: Mapped[int | None] = mapped_column(BigInteger)
    target_id: Mapped[int | None] = mapped_column(BigInteger)
    client_address: Mapped[str | None] = mapped_column(String(45))
    request_id: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(Json().with_variant(JSONB(), "postgresql"))


# Newest first, `id` breaking ties, by an index walk whatever the filter: the time range alone,
# or behind one actor, one target or one type (a list of types is one walk per type).
AUDIT_ORDER = ("occurred_at", "id")
AUDIT_FILTERED = ("actor_id", "target_id", "type")


def _audit_indexes(events: Any) -> None:
    Index("ix_audit_events_occurred_at_id", events.occurred_at, events.id)
    for name in AUDIT_FILTERED:
        Index(f"ix_audit_events_{name}_occurred_at_id", events[name], events.occurred_at, events.id)


_audit_indexes(AuditEvent.__table__.c)


class IdempotencyKey(Base):
    """The first outcome of a POST made with an `Idempotency-Key`, kept for replay.

    `status` is NULL while that first request is still running.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("scope", "key"),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    scope: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[str | None] = mapped_column(Text)
    headers: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LoginAttempt(Base):
    """One login attempt for a normalised email (kept as its SHA-256), for rate limiting."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_key_hash_attempted_at", "key_hash", "attempted_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    attempted_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LoginAddress(Base):
    """An address a user logged in from, and when last: it is let through the per-account
    login limit for a while (LOGIN_KNOWN_ADDRESS_DAYS)."""

    __tablename__ = "login_addresses"
    __table_args__ = (Index("ix_login_addresses_last_success_at", "last_success_at"),)

    user_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    address: Mapped[str] = mapped_column(String(45), primary_key=True)
    last_success_at: Mapped[datetime] = mapped_column(UtcDateTime)


class UserCount(Base):
    """How many users have each (role, status): kept by triggers in the same transaction as
    every insert, update and delete of a user, however it is made (plain SQL included)."""

    __tablename__ = "user_counts"

    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, server_default="0")


class SigningKey(Base):
    """A secret shared by every worker and host (list cursors are signed with it), made by
    the migration that needs it."""

    __tablename__ = "signing_keys"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    secret: Mapped[str] = mapped_column(String(128))


class MailMessage(Base):
    """A message in the outbox (docs/API.md §6): written in the transaction of the change that
    causes it, sent after commit by whichever serving process claims it first.

    `state` is `pending` until it is `sent` (its body then dropped) or `given_up`. A claim is a
    lease: `claimed_until` hides the message from other senders while one sends it; a sender
    that dies leaves it to be taken again when the lease runs out."""

    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_state_next_attempt_at", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # `message`: ready to send; `password_reset`: a reset request, whose message is written by
    # the sender (a token for an active user of that address, or nothing at all).
    kind: Mapped[str] = mapped_column(String(32), server_default="message")
    recipient: Mapped[str] = mapped_column(String(254))
    recipient_name: Mapped[str | None] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    # A request's origin: for its audit event (docs/API.md §7), written when it is acted on.
    client_address: Mapped[str | None] = mapped_column(String(45))
    request_id: Mapped[str | None] = mapped_column(String(128))


class MailToken(Base):
    """A one-use token sent by mail (a password reset, an email verification), kept only as
    its SHA-256, bound to the address it was sent to."""

    __tablename__ = "mail_tokens"
    __table_args__ = (
        Index("ix_mail_tokens_user_id_purpose", "user_id", "purpose"),
        Index("ix_mail_tokens_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

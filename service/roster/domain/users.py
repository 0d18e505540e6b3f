"""Users: the business rules.

Async functions orchestrate (a password is hashed before any transaction begins); the
transactions themselves are plain functions of a `Session` that commit explicitly, run whole by
`Database.write`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db.audit import Origin, announce, event_values, inserted_on_sqlite, record
from ..db.database import Database, Row, first_row
from ..db.models import User
from ..db.queries import (
    USER_BY_ID,
    set_user_recorded_statement,
    set_user_statement,
    update_user_statement,
    user_from_row,
    user_out,
    user_updated_event_statement,
)
from ..errors import Conflict, Forbidden, NotFound
from ..schemas import DEFAULT_STATUS, Role, Status, UserOut
from .audit import sessions_ended, user_changes
from .keys import revoke_all
from .passwords import Passwords
from .sessions import end_all

if TYPE_CHECKING:  # verification imports tokens, which imports this module
    from .verification import Verifications

ALREADY_REGISTERED = {"email": "Already registered"}
CANNOT_DISABLE_SELF = "An admin cannot disable themself"
LOCKED_USER_BY_ID = USER_BY_ID.with_for_update()
# Changes that may do more than the UPDATE: end sessions, or send mail.
NOT_ALONE = frozenset({"password", "status", "email"})
Precondition = Callable[[UserOut], None]


async def create_user(
    db: Database,
    passwords: Passwords,
    name: str,
    email: str,
    password: str,
    role: Role,
    origin: Origin,
    status: Status = DEFAULT_STATUS,
    verifications: Verifications | None = None,
) -> UserOut:
    """A new user, sent a verification message in the same transaction; without
    `verifications` (an operator's `roster create-user`), verified already."""
    password_hash = await passwords.hash(password)
    user = await db.write(
        _insert_user, name, email, password_hash, role, status, origin, verifications
    )
    if verifications is not None:
        verifications.committed(1)
    return user


async def update_user(
    db: Database,
    passwords: Passwords,
    user_id: int,
    changes: dict[str, Any],
    precondition: Precondition | None,
    origin: Origin,
    verifications: Verifications,
) -> UserOut:
    """Apply `changes` (validated fields) to a user, as `actor`; a password always counts as a
    change, and ends the user's other sessions and every API key; disabling ends all of both.
    An admin cannot disable themself. A new email is unverified: a verification goes to it,
    and a notice to the old one.

    An update that changes nothing keeps `updated_at`, and so the ETag, and records no event.
    """
    if changes.get("status") == "disabled" and user_id == origin.actor_id:
        raise Forbidden(CANNOT_DISABLE_SELF, details={"status": CANNOT_DISABLE_SELF})
    alone = precondition is None and changes and not changes.keys() & NOT_ALONE
    if alone:
        # Nothing to check first, nothing else to change (the hot path).
        return await _set_user(db, user_id, changes, origin)
    password = changes.pop("password", None)
    password_hash = None if password is None else await passwords.hash(password)
    user, messages = await db.write(
        _update_user, user_id, changes, password_hash, precondition, origin, verifications
    )
    if messages:
        verifications.committed(messages)
    return user


async def delete_user(
    db: Database, user_id: int, precondition: Precondition | None, origin: Origin
) -> None:
    await db.write(_delete_user, user_id, precondition, origin)


async def set_password_hash(db: Database, user_id: int, password_hash: str) -> None:
    """Store a re-computed hash of the same password (a parameter upgrade, not a change)."""
    await db.write(_set_password_hash, user_id, password_hash)


def _insert_user(
    session: Session,
    name: str,
    email: str,
    password_hash: str,
    role: Role,
    status: Status,
    origin: Origin,
    verifications: Verifications | None,
) -> UserOut:
    now = datetime.now(UTC)
    user = User(
        name=name,
        email=email,
        email_verified=verifications is None,
        password_hash=password_hash,
        role=role,
        status=status,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    with _email_must_be_unique(session):
        session.flush()  # the user's id, for the token; a taken email fails here
    if verifications is not None:
        verifications.queue(session, user.id, name, email, now)
    record(session, origin, "user.created", user.id, {"role": role}, now)
    session.commit()
    return user_out(user)


async def _set_user(db: Database, user_id: int, changes: dict[str, Any], origin: Origin) -> UserOut:
    """The user as changed, and its event, with the fewest statements the backend allows
    (`updated_at` kept, and no event, if nothing changed)."""
    columns = tuple(sorted(changes))
    parameters = {f"b_{column}": value for column, value in changes.items()}
    now = datetime.now(UTC)
    parameters.update({"b_id": user_id, "b_now": now})
    if db.dialect != "postgresql":  # one writer: the event's INSERT and the UPDATE in one turn
        row, events = await db.write_core(
            _set_user_recorded, user_id, columns, parameters, origin, now
        )
        announce(db.metrics, events)
    else:  # one statement: no transaction around it, one round trip
        row = await db.first_written(
            set_user_recorded_statement(columns), {**parameters, **origin.columns("a_")}
        )
        if row is not None and row["event_id"] is not None:
            before = {name: row[f"was_{name}"] for name in columns}
            details = {"changes": user_changes(before, changes, password=False)}
            event = event_values(origin, "user.updated", user_id, details, now, row["event_id"])
            announce(db.metrics, [event])
    user = None if row is None else user_from_row(row)
    if user is None:
        raise NotFound("User not found")
    return user


def _set_user_recorded(
    connection: Connection,
    user_id: int,
    columns: tuple[str, ...],
    parameters: dict[str, Any],
    origin: Origin,
    now: datetime,
) -> tuple[Row | None, list[dict[str, Any]]]:
    """SQLite: the event, if a value differs (its INSERT reads the old values), then the
    UPDATE … RETURNING; two statements whether or not another request changed the row first."""
    event = user_updated_event_statement(columns)
    events = inserted_on_sqlite(connection, event, parameters, origin, "user.updated", user_id, now)
    return first_row(connection, set_user_statement(columns), parameters), events


def _update_user(
    session: Session,
    user_id: int,
    changes: dict[str, Any],
    password_hash: str | None,
    precondition: Precondition | None,
    origin: Origin,
    verifications: Verifications,
) -> tuple[UserOut, int]:
    """Core statements on the session's connection: one locked read, one UPDATE; the user,
    and how many messages the change queued."""
    connection = session.connection()
    row = connection.execute(LOCKED_USER_BY_ID, {"user_id": user_id}).first()
    if row is None:
        raise NotFound("User not found")
    if precondition is not None:
        precondition(user_out(row))
    values = {key: value for key, value in changes.items() if getattr(row, key) != value}
    if not values and password_hash is None:
        session.commit()
        return user_out(row), 0
    now = values["updated_at"] = datetime.now(UTC)
    record(
        session,
        origin,
        "user.updated",
        user_id,
        {"changes": user_changes(row._mapping, values, password_hash is not None)},
        now,
    )
    if "email" in values:
        values["email_verified"] = False  # until the new address is proved
    if values.get("status") == "disabled":
        # At once: credentials are read per request.
        _end_credentials(session, origin, user_id, None, "disabled", now)
    if password_hash is not None:
        values["password_hash"] = password_hash
        keep = origin.credential_id if origin.credential_kind == "session" else None
        _end_credentials(session, origin, user_id, keep, "password_changed", now)
    parameters = {f"b_{column}": value for column, value in values.items()}
    statement = update_user_statement(tuple(sorted(values)))
    with _email_must_be_unique(session):
        connection.execute(statement, {**parameters, "b_id": user_id})
    messages = _mail_email_change(session, verifications, row, values)
    session.commit()
    return user_out(SimpleNamespace(**{**row._mapping, **values})), messages


def _mail_email_change(
    session: Session, verifications: Verifications, row: Any, values: dict[str, Any]
) -> int:
    """A verification to a changed email and a notice to the old one, in the change's
    transaction; how many messages that is."""
    if "email" not in values:
        return 0
    name = values.get("name", row.name)
    verifications.queue_change(
        session, row.id, name, row.email, values["email"], values["updated_at"]
    )
    return 2


def _end_credentials(
    session: Session,
    origin: Origin,
    user_id: int,
    keep_token_id: int | None,
    reason: str,
    now: datetime,
) -> None:
    """End the user's sessions (but `keep_token_id`) and API keys, each recorded."""
    ended = end_all(session, user_id, keep_token_id, now)
    sessions_ended(session, origin, user_id, ended, reason, now)
    revoke_all(session, origin, user_id, reason, now)


def _delete_user(
    session: Session, user_id: int, precondition: Precondition | None, origin: Origin
) -> None:
    user = _locked_user(session, user_id)
    if precondition is not None:
        precondition(user_out(user))
    now = datetime.now(UTC)
    end_all(session, user_id, None, now)
    revoke_all(session, origin, user_id, None, now)
    record(session, origin, "user.deleted", user_id, {"email": user.email}, now)
    session.delete(user)
    session.commit()


def _set_password_hash(session: Session, user_id: int, password_hash: str) -> None:
    user = session.get(User, user_id)
    if user is not None:
        user.password_hash = password_hash
    session.commit()


def _locked_user(session: Session, user_id: int) -> User:
    user = session.scalar(select(User).where(User.id == user_id).with_for_update())
    if user is None:
        raise NotFound("User not found")
    return user


@contextmanager
def _email_must_be_unique(session: Session | None = None) -> Iterator[None]:
    """A unique-email violation inside the block is rolled back and becomes 409."""
    try:
        yield
    except IntegrityError as error:
        if session is not None:  # else the database has rolled its own statement back
            session.rollback()
        if "email" in str(error.orig).lower():
            raise Conflict("Email already registered", details=ALREADY_REGISTERED) from None
        raise

"""Sessions (docs/API.md §2): every live token is a session its owner can list and end, and
`last_used_at` is kept to within TOKEN_TOUCH_SECONDS without a write on any request's path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Table, Update, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..db.audit import Origin
from ..db.database import Database
from ..db.models import ApiKey, Token, as_utc
from ..errors import NotFound
from ..schemas import ADMIN_SCOPES, SessionOut, UserOut
from ..serving.tasks import cancel_and_wait
from .audit import sessions_ended

logger = logging.getLogger("roster.sessions")
FLUSH_SECONDS = 1.0  # how often noted uses are written
SESSION_NOT_FOUND = "Session not found"
_LAST_USED = func.coalesce(Token.last_used_at, Token.created_at)


@dataclass(frozen=True)
class Caller:
    """Who presented a live credential, and which: a session token (`token_id`), or an API key
    (`key_id`, with its scopes)."""

    user: UserOut
    token_id: int | None
    key_id: int | None = None
    scopes: frozenset[str] | None = None  # a key's; None for a session, which may do anything

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"

    def allows(self, scope: str) -> bool:
        """Whether the credential reaches `scope`: a session always; a key when the scope is
        one of its own and its owner's role allows it now (docs/API.md §2)."""
        if self.scopes is None:
            return True
        return scope in self.scopes and (scope not in ADMIN_SCOPES or self.is_admin)


async def list_sessions(
    db: Database, user_id: int, current_token_id: int | None
) -> list[SessionOut]:
    """The user's live sessions, newest first."""
    return await db.read(_live_sessions, user_id, current_token_id, datetime.now(UTC))


async def end_session(
    db: Database, user_id: int, token_id: int, origin: Origin, reason: str = "ended"
) -> None:
    """End one of the user's live sessions; 404 for another user's or an unknown one."""
    if not await db.write(_end, user_id, token_id, origin, reason, datetime.now(UTC)):
        raise NotFound(SESSION_NOT_FOUND)


async def end_sessions(
    db: Database, user_id: int, origin: Origin, keep_token_id: int | None = None
) -> None:
    """End every session of the user, but `keep_token_id` when given."""
    await db.write(_end_all_now, user_id, origin, keep_token_id)


def end_all(session: Session, user_id: int, keep_token_id: int | None, now: datetime) -> list[int]:
    """In the caller's transaction (a password change, a disabling): the caller commits. The
    ids of the sessions still live at `now`."""
    statement = delete(Token).where(Token.user_id == user_id)
    if keep_token_id is not None:
        statement = statement.where(Token.id != keep_token_id)
    rows = session.execute(statement.returning(Token.id, Token.expires_at)).all()
    return [row.id for row in rows if as_utc(row.expires_at) > now]


def _end_all_now(session: Session, user_id: int, origin: Origin, keep_token_id: int | None) -> None:
    now = datetime.now(UTC)
    ended = end_all(session, user_id, keep_token_id, now)
    sessions_ended(session, origin, user_id, ended, "ended", now)
    session.commit()


def evict_least_recently_used(
    session: Session, user_id: int, keep: int, now: datetime
) -> list[int]:
    """Leave the user at most `keep` live sessions, ending the least recently used (their
    ids); expired ones go too. In the caller's transaction."""
    session.execute(delete(Token).where(Token.user_id == user_id, Token.expires_at <= now))
    surplus = (
        select(Token.id)
        .where(Token.user_id == user_id)
        .order_by(_LAST_USED.desc(), Token.id.desc())
        .offset(keep)
    )
    doomed = list(session.scalars(surplus))
    if doomed:
        session.execute(delete(Token).where(Token.id.in_(doomed)))
    return doomed


class Touches:
    """Which credentials (sessions, or API keys) were used since their `last_used_at` was
    written, noted by authentication (no write on the request's path) and written by a
    background task, a batch at a time."""

    def __init__(self, db: Database, touch_seconds: int, keys: bool = False) -> None:
        self._db = db
        self._statement = _KEY_TOUCH if keys else _TOKEN_TOUCH
        self._every = timedelta(seconds=touch_seconds)
        self._pending: dict[int, datetime] = {}
        self._task: asyncio.Task[None] | None = None
        self._noted = asyncio.Event()

    def note(self, token_id: int, last_used_at: datetime | None, now: datetime) -> None:
        if last_used_at is not None and now - as_utc(last_used_at) < self._every:
            return
        self._pending[token_id] = now
        self._noted.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._flush_forever())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        with contextlib.suppress(Exception):
            await self.flush()

    async def flush(self) -> None:
        batch, self._pending = self._pending, {}
        self._noted.clear()
        if batch:
            await self._db.write(_touch, self._statement, batch)

    async def _flush_forever(self) -> None:
        while True:
            await self._noted.wait()  # asleep while nothing is noted: no wake-ups on idle
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                await self.flush()
            except Exception:  # the database is away: these uses are only approximate anyway
                logger.warning("could not record when sessions were last used", exc_info=True)


def _touch_statement(table: Table) -> Update:
    found = table.c
    return (
        update(table)
        .where(
            found.id == bindparam("token_id"),
            or_(found.last_used_at.is_(None), found.last_used_at < bindparam("used_at")),
        )
        .values(last_used_at=bindparam("used_at"))
    )


_TOKEN_TOUCH = _touch_statement(cast(Table, Token.__table__))
_KEY_TOUCH = _touch_statement(cast(Table, ApiKey.__table__))


def _touch(session: Session, statement: Update, batch: dict[int, datetime]) -> None:
    rows = [{"token_id": token_id, "used_at": used_at} for token_id, used_at in batch.items()]
    session.connection().execute(statement, rows)
    session.commit()


def _live_sessions(
    connection: Connection, user_id: int, current_token_id: int | None, now: datetime
) -> list[SessionOut]:
    rows = connection.execute(
        select(
            Token.id,
            Token.label,
            Token.created_at,
            Token.expires_at,
            _LAST_USED.label("last_used_at"),
            Token.client_address,
        )
        .where(Token.user_id == user_id, Token.expires_at > now)
        .order_by(Token.created_at.desc(), Token.id.desc())
    )
    return [
        SessionOut.model_validate({**row._mapping, "current": row.id == current_token_id})
        for row in rows
    ]


def _end(
    session: Session, user_id: int, token_id: int, origin: Origin, reason: str, now: datetime
) -> bool:
    result = session.execute(
        delete(Token).where(
            and_(Token.id == token_id, Token.user_id == user_id, Token.expires_at > now)
        )
    )
    ended = bool(getattr(result, "rowcount", 0))
    if ended:
        sessions_ended(session, origin, user_id, [token_id], reason, now)
    session.commit()
    return ended

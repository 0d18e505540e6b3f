"""The audit log (docs/API.md §7): what each event says, and reading the log.

Every event is recorded by the transaction of its change (`db.audit.record`), so it exists if
and only if that change committed. `details` never holds a password, token, key, hash or mail
body: a password change shows as `["***", "***"]`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from ..db.audit import (
    EventFilter,
    Key,
    Origin,
    event_of,
    events_query,
    find_events,
    purge_older,
    record,
    walks_alone,
)
from ..db.cursors import Cursors
from ..db.database import Database, Lane
from ..errors import ValidationFailed
from ..pages import CursorPage
from ..schemas import AuditEventOut, AuditListQuery

CHANGED_FIELDS = ("name", "email", "role", "status")  # shown old and new
HIDDEN = "***"
DEFAULT_PER_PAGE = 20
PURGE_BATCH = 1000  # events per retention transaction: short, so writers barely wait
ALL, OWN = "audit", "profile"  # a cursor's listing


def user_changes(
    before: Mapping[Any, Any], after: Mapping[str, Any], password: bool
) -> dict[str, list[Any]]:
    """`changes`: old and new values of each shown field that differs, and the password's."""
    changes: dict[str, list[Any]] = {
        name: [before[name], after[name]]
        for name in CHANGED_FIELDS
        if name in after and before[name] != after[name]
    }
    if password:
        changes["password"] = [HIDDEN, HIDDEN]
    return changes


def sessions_ended(
    session: Session,
    origin: Origin,
    user_id: int,
    session_ids: Iterable[int],
    reason: str,
    now: datetime,
) -> None:
    """`session.ended` for the sessions a change ended (none: no event)."""
    ended = sorted(session_ids)
    if ended:
        details = {"session_ids": ended, "reason": reason}
        record(session, origin, "session.ended", user_id, details, now)


def key_event(
    session: Session,
    origin: Origin,
    user_id: int,
    key: Any,
    now: datetime,
    reason: str | None = None,
) -> None:
    """`key.created`, or with a `reason` `key.revoked`, for a key's row or object."""
    details: dict[str, Any] = {"key_id": key.id, "prefix": key.prefix, "scopes": key.scopes.split()}
    if reason is None:
        record(session, origin, "key.created", user_id, details, now)
    else:
        record(session, origin, "key.revoked", user_id, {**details, "reason": reason}, now)


async def list_events(
    db: Database, cursors: Cursors, query: AuditListQuery, involving: int | None = None
) -> CursorPage[AuditEventOut]:
    """A page of events, newest first (`involving`: only a user's own)."""
    listing = ALL if involving is None else OWN
    wanted = _filter_of(query, involving)
    per_page, after = query.per_page or DEFAULT_PER_PAGE, None
    if query.cursor is not None:
        wanted, per_page, after = await _resumed(cursors, query, listing, involving)
    if walks_alone(wanted):  # index walks that stop at the page: one statement, as a read
        statement, params = events_query(wanted, per_page + 1, after)
        rows = [event_of(row) for row in await db.all(statement, params)]
    else:  # a walk may pass over many events to fill the page: within the quick lane's time
        rows = await db.read_in(Lane.QUICK, find_events, wanted, per_page + 1, after)
    events = [AuditEventOut.model_validate(row) for row in rows[:per_page]]
    next_cursor = None
    if len(rows) > per_page:
        last = rows[per_page - 1]
        next_cursor = await cursors.sign(
            _cursor_fields(listing, wanted, per_page, (last["occurred_at"], last["id"]))
        )
    return CursorPage(events, per_page, next_cursor)


def _filter_of(query: AuditListQuery, involving: int | None) -> EventFilter:
    return EventFilter(
        query.type,
        query.actor_id,
        query.target_id,
        None if query.since is None else query.since.astimezone(UTC),
        None if query.until is None else query.until.astimezone(UTC),
        involving,
    )


def _cursor_fields(listing: str, wanted: EventFilter, per_page: int, key: Key) -> dict[str, Any]:
    return {
        "list": listing,
        "type": None if wanted.types is None else list(wanted.types),
        "actor_id": wanted.actor_id,
        "target_id": wanted.target_id,
        "since": None if wanted.since is None else wanted.since.isoformat(),
        "until": None if wanted.until is None else wanted.until.isoformat(),
        "per_page": per_page,
        "key": [key[0].isoformat(), key[1]],
    }


async def _resumed(
    cursors: Cursors, query: AuditListQuery, listing: str, involving: int | None
) -> tuple[EventFilter, int, Key]:
    """The filter, page size and position a cursor carries; 422 naming `cursor` for another
    listing's cursor, or a filter sent with it that differs from its own."""
    fields = await cursors.unsign(query.cursor or "", _cursor_of)
    if fields["list"] != listing:
        raise ValidationFailed(details={"cursor": "The cursor is of another list"})
    wanted: EventFilter = fields["filter"]
    sent = _filter_of(query, involving)
    for name in ("types", "actor_id", "target_id", "since", "until"):
        value = getattr(sent, name)
        if value is not None and value != getattr(wanted, name):
            shown = "type" if name == "types" else name
            raise ValidationFailed(details={"cursor": f"The cursor lists another {shown}"})
    wanted = EventFilter(
        wanted.types, wanted.actor_id, wanted.target_id, wanted.since, wanted.until, involving
    )
    return wanted, query.per_page or fields["per_page"], fields["key"]


def _cursor_of(fields: dict[str, Any]) -> dict[str, Any]:
    """A cursor's fields, checked (ValueError, TypeError: malformed)."""
    types = fields["type"]
    if types is not None:
        types = AuditListQuery.model_validate({"type": ",".join(types)}).type
    actor_id, target_id, per_page = fields["actor_id"], fields["target_id"], fields["per_page"]
    at, row_id = fields["key"]
    for number in (actor_id, target_id):
        if not isinstance(number, int | None):
            raise TypeError(number)
    if not (isinstance(per_page, int) and isinstance(row_id, int) and fields["list"] in (ALL, OWN)):
        raise TypeError(per_page)
    since, until = (_moment(fields[name]) for name in ("since", "until"))
    wanted = EventFilter(types, actor_id, target_id, since, until)
    return {
        "list": fields["list"],
        "filter": wanted,
        "per_page": per_page,
        "key": (_moment(at), row_id),
    }


def _moment(text: Any) -> Any:
    return None if text is None else datetime.fromisoformat(text)


async def purge_expired(db: Database, retention_days: int, now: datetime) -> int:
    """Remove events older than `retention_days`, a batch per transaction, yielding between
    batches; how many went."""
    cutoff = now - timedelta(days=retention_days)
    removed = 0
    while True:
        batch = await db.write(purge_older, cutoff, PURGE_BATCH)
        removed += batch
        if batch < PURGE_BATCH:
            return removed
        await asyncio.sleep(0)  # other work runs between batches

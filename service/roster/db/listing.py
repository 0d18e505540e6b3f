"""The users list's read path (docs/API.md §3): `list_users` works out the plan (the search
phrase, once), the lane it runs in and the cursor it resumes from, and returns a page by number
or a page after a cursor.

A list whose cost can grow with the table runs apart from the cheap reads: a search through
the substring index in the quick lane (moved to the bounded lane if it needs longer), a scan or
a deep page number in the bounded lane, stopped at LIST_BUDGET_MS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ValidationFailed
from ..pages import CursorPage, Page
from ..schemas import MAX_ID, SortKey, UserListQuery, UserOut
from .cursors import Cursors
from .database import Database, Lane
from .list_queries import (
    DEEP_OFFSET,
    Listing,
    Plan,
    find_after,
    find_page,
    page_of,
    past_the_end,
    totalled,
    totalled_along,
    totalled_page,
)
from .queries import Along

DEFAULT_PER_PAGE = 20
DEFAULT_SORT: SortKey = "id"
# The deepest OFFSET asked of the database: with the page and its one extra row, still a
# 64-bit integer (a page number near 2**63 is past any end all the same).
MAX_OFFSET = MAX_ID - 2 * 100


def page_along(dialect: str, query_of: Callable[[], UserListQuery | None]) -> Along | None:
    """The page a request's query (`query_of()`, None when invalid) asks for, as a read to make
    in its caller's statement, when it is one statement of its own (`totalled`) on PostgreSQL.
    SQLite has no round trip to save, and runs the joined statement slower than the two
    (bench/README.md): there the query is not even looked at."""
    if dialect != "postgresql":
        return None
    query = query_of()
    if query is None or query.cursor is not None:
        return None
    plan, _number, per_page, offset = _by_number(query, dialect)
    return totalled_along(plan, per_page, offset, dialect) if totalled(plan, offset) else None


async def list_users(
    db: Database, cursors: Cursors, query: UserListQuery, along: list[Any] | None = None
) -> Page[UserOut] | CursorPage[UserOut]:
    """A page of users; `along`: the rows of `page_along(query)`, when read with the caller."""
    if query.cursor is not None:
        return await _after_cursor(db, cursors, query, query.cursor)
    plan, number, per_page, offset = _by_number(query, db.dialect)
    counted = None
    if totalled(plan, offset):  # one statement, which PostgreSQL runs through asyncpg itself
        rows = along
        if rows is None:
            rows = await db.all(*totalled_page(plan, per_page, offset, db.dialect))
        counted = page_of(plan, rows, per_page) or await db.read(past_the_end, plan.listing)
    if counted is None:
        counted = await db.read_in(_lane(plan, offset), find_page, plan, per_page, offset)
    found, total = counted
    next_cursor = await cursors.after(plan.listing, per_page, found.next_key)
    return Page(found.users, number, per_page, total, next_cursor)


def _by_number(query: UserListQuery, dialect: str) -> tuple[Plan, int, int, int]:
    """A page by number: its plan, number, size and offset."""
    listing = Listing(query.sort or DEFAULT_SORT, query.q, query.role, query.status)
    number, per_page = query.page or 1, query.per_page or DEFAULT_PER_PAGE
    offset = min((number - 1) * per_page, MAX_OFFSET)
    return Plan.of(listing, dialect), number, per_page, offset


async def _after_cursor(
    db: Database, cursors: Cursors, query: UserListQuery, text: str
) -> CursorPage[UserOut]:
    cursor = await cursors.decode(text)
    if query.page is not None:
        raise ValidationFailed(details={"cursor": "A cursor cannot be combined with page"})
    listing = cursor.listing
    sent = {"sort": query.sort, "q": query.q, "role": query.role, "status": query.status}
    for name, value in sent.items():
        if value is not None and value != getattr(listing, name):
            raise ValidationFailed(details={"cursor": f"The cursor lists another {name}"})
    per_page = query.per_page or cursor.per_page
    plan = Plan.of(listing, db.dialect)
    found = await db.read_in(_lane(plan, 0), find_after, plan, per_page, cursor.key)
    next_cursor = await cursors.after(listing, per_page, found.next_key)
    return CursorPage(found.users, per_page, next_cursor)


def _lane(plan: Plan, offset: int) -> Lane:
    """Cheap: an index walk. Usually cheap: a search through the substring index (a common
    phrase can match most rows). Costly: a scan (a short `q`), a deep page number."""
    if offset > DEEP_OFFSET or (plan.search is not None and not plan.search.indexed):
        return Lane.BOUNDED
    return Lane.NORMAL if plan.search is None else Lane.QUICK

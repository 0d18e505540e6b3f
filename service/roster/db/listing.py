"""The users list's read path (docs/API.md §3): `list_users` works out the plan (the search
phrase, once), the lane it runs in and the cursor it resumes from, and returns a page by number
or a page after a cursor.

A list whose cost can grow with the table runs apart from the cheap reads: a search through
the substring index in the quick lane (moved to the bounded lane if it needs longer), a scan or
a deep page number in the bounded lane, stopped at LIST_BUDGET_MS.
"""

from __future__ import annotations

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
    totalled,
    totalled_page,
)

DEFAULT_PER_PAGE = 20
DEFAULT_SORT: SortKey = "id"
# The deepest OFFSET asked of the database: with the page and its one extra row, still a
# 64-bit integer (a page number near 2**63 is past any end all the same).
MAX_OFFSET = MAX_ID - 2 * 100


async def list_users(
    db: Database, cursors: Cursors, query: UserListQuery
) -> Page[UserOut] | CursorPage[UserOut]:
    if query.cursor is not None:
        return await _after_cursor(db, cursors, query, query.cursor)
    listing = Listing(query.sort or DEFAULT_SORT, query.q, query.role, query.status)
    number, per_page = query.page or 1, query.per_page or DEFAULT_PER_PAGE
    offset = min((number - 1) * per_page, MAX_OFFSET)
    plan = Plan.of(listing, db.dialect)
    counted = None
    if totalled(plan, offset):  # one statement, which PostgreSQL runs through asyncpg itself
        statement, params = totalled_page(plan, per_page, offset, db.dialect)
        counted = page_of(plan, await db.all(statement, params), per_page)
    if counted is None:
        counted = await db.read_in(_lane(plan, offset), find_page, plan, per_page, offset)
    found, total = counted
    next_cursor = await cursors.after(listing, per_page, found.next_key)
    return Page(found.users, number, per_page, total, next_cursor)


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

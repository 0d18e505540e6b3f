"""The users list's statements, at any size: every order and filter walks an index, `total`
comes from the counts the triggers keep, and `q` goes through the substring index where one
can serve it.

A page is read by number (OFFSET, linear in the page) or after a key (the sort value and id of
the last row a client saw: a cursor, logarithmic at any depth). `find_page` and `find_after`
are units of work (`Database.read_in`).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import TypeAdapter
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    String,
    and_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    table,
    union_all,
)
from sqlalchemy.engine import Connection

from ..schemas import Role, SortKey, Status, UserOut
from .models import UserCount
from .queries import USER_COLUMNS, USER_FIELDS, USERS, Along, ordered, users

ROLES: tuple[str, ...] = get_args(Role)
STATUSES: tuple[str, ...] = get_args(Status)
Combos = tuple[tuple[str, str], ...]  # the (role, status) branches of a filtered list
Key = tuple[Any, int]  # the sort value and the id of a row: where a cursor resumes
DEEP_OFFSET = 1000  # rows an OFFSET may skip before a page by number counts as costly
SearchKind = Literal["index", "index_ascii", "ascii", "scan"]
# An ASCII run this long in the lower-cased `q` is a phrase the trigram index can find.
_TRIGRAM = 3
_ASCII_RUNS = re.compile(r"[\x00-\x7f]+")
# The only characters whose Python lower case holds ASCII: İ (to "i̇") and the Kelvin sign.
_LOWERS_TO_ASCII = "\u0130\u212a"
_counts = UserCount.__table__.c
_search_table = table("users_search")
_USER_LIST = TypeAdapter(list[UserOut])  # built once: a schema per call would cost more


@dataclass(frozen=True)
class Listing:
    """Which users, in which order: the part of a list request that a cursor carries."""

    sort: SortKey
    q: str | None = None
    role: Role | None = None
    status: Status | None = None


@dataclass(frozen=True)
class Search:
    """How `q` is matched: through the substring index (with the phrase to look up there), by
    SQLite's own ASCII LIKE, or by a scan with the Unicode `lower()`."""

    kind: SearchKind
    phrase: str | None = None

    @property
    def indexed(self) -> bool:
        return self.kind in ("index", "index_ascii")


@dataclass(frozen=True)
class Plan:
    """A listing and its search, worked out once from `q` for the database it runs on."""

    listing: Listing
    search: Search | None

    @classmethod
    def of(cls, listing: Listing, dialect: str) -> Plan:
        return cls(listing, _search_of(listing.q, dialect))


@dataclass(frozen=True)
class Found:
    users: list[UserOut]
    next_key: Key | None  # the last row's key, when more rows follow


def find_page(conn: Connection, plan: Plan, limit: int, offset: int) -> tuple[Found, int]:
    """Up to `limit` users in the listing's order from `offset`, and how many there are."""
    combos: Combos = ()
    if totalled(plan, offset):
        statement, params = totalled_page(plan, limit, offset, conn.dialect.name)
        counted = page_of(plan, list(conn.execute(statement, params)), limit)
        return counted if counted is not None else past_the_end(conn, plan.listing)
    if plan.search is None:
        total, combos = _counted(conn, plan.listing)
        if offset >= total:  # past the end: nothing to read
            return Found([], None), total
    rows, params, shape = _rows(conn, plan, combos, limit, offset=offset)
    found = _found(plan, rows, limit)
    if plan.search is not None:
        total = rows[0][-1] if rows else _count(conn, shape, params)
    return found, total


def totalled(plan: Plan, offset: int) -> bool:
    """An unfiltered, unsearched page that is not deep: its total (the sum of the maintained
    counts) is cheap to carry in the page's own statement. A deep page keeps the separate
    count first, which spares a long OFFSET walk past the end."""
    listing = plan.listing
    unfiltered = listing.role is None and listing.status is None
    return plan.search is None and unfiltered and offset <= DEEP_OFFSET


def totalled_page(
    plan: Plan, limit: int, offset: int, dialect: str
) -> tuple[Select[Any], dict[str, Any]]:
    """The one statement of a `totalled` page (the page, the total beside each row), and its
    parameters: a read a backend may run its own cheaper way (`Database.all`)."""
    shape = _Shape(plan.listing.sort, None, (), after=False, totalled=True)
    return _page_statement(shape, dialect), _params(plan, None, limit, offset)


def totalled_along(plan: Plan, limit: int, offset: int, dialect: str) -> Along:
    """A `totalled_page`, to be read along with the caller's statement (`queries.Along`)."""
    statement, params = totalled_page(plan, limit, offset, dialect)
    return Along(statement, params, _order_names(plan.listing.sort))


def page_of(plan: Plan, rows: list[Any], limit: int) -> tuple[Found, int] | None:
    """A `totalled_page`'s users and total; None when it found no row (past the end: the
    total is then asked of the counts)."""
    if not rows:
        return None
    return _found(plan, rows, limit), int(rows[0][-1])


def past_the_end(conn: Connection, listing: Listing) -> tuple[Found, int]:
    """An empty page (a `totalled_page` that found no row), and the listing's total."""
    return Found([], None), _counted(conn, listing)[0]


def find_after(conn: Connection, plan: Plan, limit: int, after: Key) -> Found:
    """Up to `limit` users in the listing's order after the key `after` (a cursor's)."""
    combos: Combos = ()
    if plan.search is None:
        total, combos = _counted(conn, plan.listing)
        if total == 0:
            return Found([], None)
    rows, _params, _shape = _rows(conn, plan, combos, limit, after=after)
    return _found(plan, rows, limit)


def _counted(conn: Connection, listing: Listing) -> tuple[int, Combos]:
    """The listing's total from the maintained counts, and the branches it walks."""
    counts = conn.execute(select(_counts.role, _counts.status, _counts.n)).all()
    matching = [row for row in counts if _wanted(listing, row.role, row.status)]
    total = sum(row.n for row in matching)
    combos: Combos = ()
    if listing.role is not None or listing.status is not None:
        combos = tuple(sorted((row.role, row.status) for row in matching if row.n > 0))
    return total, combos


def _rows(
    conn: Connection,
    plan: Plan,
    combos: Combos,
    limit: int,
    offset: int = 0,
    after: Key | None = None,
) -> tuple[list[Any], dict[str, Any], _Shape]:
    kind = None if plan.search is None else plan.search.kind
    counted = plan.search is not None and after is None  # a searched page carries its total
    shape = _Shape(plan.listing.sort, kind, combos, after is not None, counted)
    params = _params(plan, after, limit, offset)
    rows = conn.execute(_page_statement(shape, conn.dialect.name), params).all()
    return list(rows), params, shape


def _found(plan: Plan, rows: list[Any], limit: int) -> Found:
    users = _users_of(rows[:limit])
    next_key = _key_of(users[-1], plan.listing.sort) if len(rows) > limit else None
    return Found(users, next_key)


def _count(conn: Connection, shape: _Shape, params: dict[str, Any]) -> int:
    total: int = conn.execute(_count_statement(shape, conn.dialect.name), params).scalar_one()
    return total


def plan_statements(conn: Connection, listing: Listing, after: Key) -> list[tuple[str, Any]]:
    """The statements a listing runs (the first page, and the page after `after`), with their
    parameters bound: for reading their query plans."""
    plan = Plan.of(listing, conn.dialect.name)
    kind = None if plan.search is None else plan.search.kind
    combos: Combos = ()
    if plan.search is None and (listing.role is not None or listing.status is not None):
        combos = tuple((r, s) for r in ROLES for s in STATUSES if _wanted(listing, r, s))
    counted = plan.search is not None
    first = _Shape(listing.sort, kind, combos, False, counted, totalled=totalled(plan, 0))
    keyed = _Shape(listing.sort, kind, combos, after=True)
    params = _params(plan, after, 20, 0)
    title = "first page and its total" if plan.search is not None else "first page"
    return [
        (title, _page_statement(first, conn.dialect.name).params(params)),
        ("after a key", _page_statement(keyed, conn.dialect.name).params(params)),
    ]


def _wanted(listing: Listing, role: str, status: str) -> bool:
    return listing.role in (None, role) and listing.status in (None, status)


def _users_of(rows: list[Any]) -> list[UserOut]:
    """Rows starting with exactly `USER_COLUMNS`, by position (half the cost of reading their
    attributes), validated in one call: a page's worth of calls cost a third more."""
    width = len(USER_FIELDS)
    return _USER_LIST.validate_python(
        [dict(zip(USER_FIELDS, row[:width], strict=True)) for row in rows]
    )


def _key_of(user: UserOut, sort: str) -> Key:
    return getattr(user, sort.lstrip("-")), user.id


def _search_of(q: str | None, dialect: str) -> Search | None:
    """Always exactly: every way but the scan only narrows the rows that the exact test then
    checks."""
    if q is None:
        return None
    if dialect != "sqlite":
        return Search("index") if len(q) >= _TRIGRAM else Search("scan")
    phrase = _trigram_phrase(q.lower())
    if phrase is not None:
        return Search("index_ascii" if q.isascii() else "index", phrase)
    return Search("ascii") if q.isascii() else Search("scan")


def _trigram_phrase(lowered: str) -> str | None:
    """The longest ASCII run of the lower-cased `q`, as an FTS5 phrase, when it is long enough.

    Every row whose lower case holds `q` holds this run, and FTS5's case folding agrees with
    Python's on ASCII and the Kelvin sign; a run's last "i" may stand for İ, which FTS5 does
    not fold, so it is left out of the phrase.
    """
    runs = (run[:-1] if run.endswith("i") else run for run in _ASCII_RUNS.findall(lowered))
    run = max(runs, key=len, default="")
    if len(run) < _TRIGRAM:
        return None
    return '"' + run.replace('"', '""') + '"'


def _params(plan: Plan, after: Key | None, limit: int, offset: int) -> dict[str, Any]:
    listing, search = plan.listing, plan.search
    params: dict[str, Any] = {
        "role": listing.role,
        "status": listing.status,
        "limit": limit + 1,  # one more than asked: whether a next page exists
        "offset": offset,
        "window": offset + limit + 1,
    }
    if listing.q is not None:
        params["pattern"] = _contains(listing.q)
    if search is not None and search.phrase is not None:
        params["phrase"] = search.phrase
    if after is not None:
        params["after_value"], params["after_id"] = after
    return params


def _contains(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with `%`, `_` and the escape taken literally."""
    escaped = text.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return f"%{escaped}%"


@dataclass(frozen=True)
class _Shape:
    sort: str
    search: SearchKind | None
    combos: tuple[tuple[str, str], ...]  # the (role, status) branches of a filtered list
    after: bool
    counted: bool = False  # a searched page that carries its total
    totalled: bool = False  # an unfiltered page that carries the maintained total


def _exact_match() -> ColumnElement[bool]:
    """Today's semantics of `q`: Unicode lower case, a substring of the name or the email."""
    pattern = func.lower(bindparam("pattern", type_=String))
    return or_(
        func.lower(users.name).like(pattern, escape="/"),
        func.lower(users.email).like(pattern, escape="/"),
    )


def _ascii_match() -> ColumnElement[bool]:
    """SQLite's LIKE folds ASCII in C: exact for an ASCII `q` except for rows holding a
    character whose lower case is ASCII, which the exact test checks."""
    pattern = bindparam("pattern", type_=String)
    carved_out = or_(
        users.name.op("GLOB")(f"*[{_LOWERS_TO_ASCII}]*"),
        users.email.op("GLOB")(f"*[{_LOWERS_TO_ASCII}]*"),
    )
    return or_(
        users.name.like(pattern, escape="/"),
        users.email.like(pattern, escape="/"),
        and_(carved_out, _exact_match()),
    )


def _order(sort: str, columns: Any = users) -> list[Any]:
    """ORDER BY `sort` over `columns` (the table's, or a merged subquery's)."""
    return ordered(columns, _order_names(sort))


def _order_names(sort: str) -> tuple[str, ...]:
    # ids and emails are unique: no tie to break
    return (sort,) if sort.lstrip("-") in ("id", "email") else (sort, "id")


def _after(sort: str) -> ColumnElement[bool]:
    """Rows after the key (after_value, after_id) in `sort`'s order (ties: ascending id)."""
    name, descending = sort.lstrip("-"), sort.startswith("-")
    column = users[name]
    value = bindparam("after_value", type_=column.type)
    after_id = bindparam("after_id", type_=users.id.type)
    if name == "id":
        return users.id < after_id if descending else users.id > after_id
    if name == "email":
        return column < value if descending else column > value
    if descending:
        return and_(column <= value, or_(column < value, users.id > after_id))
    return and_(column >= value, or_(column > value, users.id > after_id))


def _hits(shape: _Shape, dialect: str) -> Any:
    """The ids the substring index finds for `q`, computed once per statement; None when the
    list is not searched through the index."""
    if shape.search not in ("index", "index_ascii"):
        return None
    found: Select[Any]
    if dialect == "sqlite":
        match = literal_column("users_search").op("MATCH")(bindparam("phrase", type_=String))
        found = select(literal_column("rowid").label("id")).select_from(_search_table).where(match)
    else:
        found = select(users.id).where(_exact_match())
    return found.cte("hits").prefix_with("MATERIALIZED")


def _filtered(statement: Select[Any], shape: _Shape, hits: Any) -> Select[Any]:
    """The rows of a searched or single-branch list: `q`, role, status, the key."""
    if hits is not None:
        statement = statement.where(users.id.in_(select(hits.c.id)))
    if shape.search in ("index_ascii", "ascii"):
        statement = statement.where(_ascii_match())
    elif shape.search in ("index", "scan"):
        statement = statement.where(_exact_match())
    if shape.search is not None:
        role, status = bindparam("role", type_=String), bindparam("status", type_=String)
        statement = statement.where(
            or_(role.is_(None), users.role == role),
            or_(status.is_(None), users.status == status),
        )
    if shape.after:
        statement = statement.where(_after(shape.sort))
    return statement


@functools.cache
def _page_statement(shape: _Shape, dialect: str) -> Select[Any]:
    """Built once per shape: per request only the parameters change. A searched page carries
    its total as an uncorrelated scalar subquery over the same index hits (found once)."""
    if shape.combos:
        return _branches(shape, dialect)
    hits = _hits(shape, dialect)
    columns: list[Any] = list(USER_COLUMNS)
    if shape.counted:
        unkeyed = dataclasses.replace(shape, after=False)
        total = _filtered(select(func.count()).select_from(USERS), unkeyed, hits)
        columns.append(total.correlate(None).scalar_subquery().label("total"))
    elif shape.totalled:
        total = select(func.coalesce(func.sum(_counts.n), 0).cast(BigInteger))
        columns.append(total.scalar_subquery().label("total"))
    return (
        _filtered(select(*columns), shape, hits)
        .order_by(*_order(shape.sort))
        .limit(bindparam("limit", type_=BigInteger))
        .offset(bindparam("offset", type_=BigInteger))
    )


def _branches(shape: _Shape, dialect: str) -> Select[Any]:
    """A filtered list: one index walk per (role, status) pair it covers, each stopped at the
    page's end, merged in order."""
    walks = [
        _filtered(select(*USER_COLUMNS), shape, None)
        .where(users.role == role, users.status == status)
        .order_by(*_order(shape.sort))
        .limit(bindparam("window", type_=BigInteger))
        .subquery()
        for role, status in shape.combos
    ]
    if len(walks) == 1:
        merged = walks[0]
    else:
        merged = union_all(*(select(walk) for walk in walks)).subquery()
    return (
        select(*(merged.c[name] for name in USER_FIELDS))
        .order_by(*_order(shape.sort, merged.c))
        .limit(bindparam("limit", type_=BigInteger))
        .offset(bindparam("offset", type_=BigInteger))
    )


@functools.cache
def _count_statement(shape: _Shape, dialect: str) -> Select[Any]:
    unkeyed = dataclasses.replace(shape, combos=(), after=False, counted=False)
    return _filtered(select(func.count()).select_from(USERS), unkeyed, _hits(unkeyed, dialect))

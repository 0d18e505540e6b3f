"""GET /api/users: paging, sorting, filtering and the RFC 8288 Link header (contract §3)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from quart import Quart
from quart.wrappers import Response

from .factories import admin_with_token
from .helpers import PASSWORD, Client, Json, bearer, login, register

Query = dict[str, str | int]
TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


class LinkParser:
    """RFC 8288 §3: `#link-value` where link-value = `<URI-Reference> *(OWS ";" OWS link-param)`."""

    def __init__(self, header: str) -> None:
        self.text = header
        self.at = 0

    def peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def skip_spaces(self) -> None:
        while self.peek() in {" ", "\t"}:
            self.at += 1

    def expect(self, char: str) -> None:
        assert self.peek() == char, f"expected {char!r} at {self.at} in {self.text!r}"
        self.at += 1

    def token(self) -> str:
        start = self.at
        while self.peek() and self.peek() in TOKEN_CHARS:
            self.at += 1
        assert self.at > start, f"expected a token at {start} in {self.text!r}"
        return self.text[start : self.at]

    def quoted(self) -> str:
        self.expect('"')
        chars: list[str] = []
        while self.peek() != '"':
            assert self.peek(), f"unterminated quoted string in {self.text!r}"
            if self.peek() == "\\":
                self.at += 1
            chars.append(self.peek())
            self.at += 1
        self.expect('"')
        return "".join(chars)

    def link_value(self) -> tuple[str, list[tuple[str, str]]]:
        self.expect("<")
        end = self.text.index(">", self.at)
        target = self.text[self.at : end]
        self.at = end + 1
        params: list[tuple[str, str]] = []
        self.skip_spaces()
        while self.peek() == ";":
            self.at += 1
            self.skip_spaces()
            name = self.token().lower()
            self.skip_spaces()
            value = ""
            if self.peek() == "=":
                self.at += 1
                self.skip_spaces()
                value = self.quoted() if self.peek() == '"' else self.token()
            params.append((name, value))
            self.skip_spaces()
        return target, params

    def links(self) -> dict[str, str]:
        found: dict[str, str] = {}
        while True:
            self.skip_spaces()
            target, params = self.link_value()
            relations = [value for name, value in params if name == "rel"]
            assert len(relations) == 1, f"a link needs exactly one rel: {params}"
            for relation in relations[0].lower().split():
                assert relation not in found, f"duplicate rel {relation!r}"
                found[relation] = target
            self.skip_spaces()
            if not self.peek():
                return found
            self.expect(",")


def parse_link_header(header: str) -> dict[str, str]:
    """{relation type: target} of a `Link` header, asserting that it is well-formed."""
    return LinkParser(header).links()


def link_query(target: str) -> dict[str, list[str]]:
    parts = urlsplit(target)
    assert parts.path == "/api/users"
    return parse_qs(parts.query, keep_blank_values=True)


async def caller(client: Client) -> tuple[Json, str]:
    """A plain user whose name and email are chosen not to match the `q` filters below."""
    user = await register(client, name="caller", email="caller@example.net")
    return user, await login(client, user["email"])


async def seed(client: Client, count: int, prefix: str = "seed") -> list[Json]:
    return [
        await register(client, name=f"{prefix} {n:02d}", email=f"{prefix}{n:02d}@example.com")
        for n in range(count)
    ]


async def listing(client: Client, token: str, **query: Any) -> Response:
    return await client.get("/api/users", query_string=query, headers=bearer(token))


async def page_of(client: Client, token: str, **query: Any) -> tuple[list[Json], Json]:
    response = await listing(client, token, **query)
    assert response.status_code == 200, await response.get_data(as_text=True)
    body: Json = await response.get_json()
    assert set(body) == {"data", "meta"}
    data: list[Json] = body["data"]
    return data, body["meta"]


async def everyone(client: Client, token: str) -> list[Json]:
    data, meta = await page_of(client, token, per_page=100)
    assert meta["total"] == len(data)
    return data


def ids(users: list[Json]) -> list[int]:
    return [user["id"] for user in users]


# --- Paging -------------------------------------------------------------------------------


async def test_defaults_are_page_1_of_20_sorted_by_id(client: Client) -> None:
    me, token = await caller(client)
    seeded = await seed(client, 24)
    response = await listing(client, token)
    assert response.status_code == 200
    body = await response.get_json()
    assert body["meta"] == {
        "request_id": response.headers["X-Request-ID"],
        "page": 1,
        "per_page": 20,
        "total": 25,
        "pages": 2,
        "next_cursor": body["meta"]["next_cursor"],
    }
    assert isinstance(body["meta"]["next_cursor"], str)
    all_ids = sorted([me["id"], *ids(seeded)])
    assert ids(body["data"]) == all_ids[:20]
    assert body["data"][0] == me


async def test_walking_the_pages_yields_everyone_once(client: Client) -> None:
    me, token = await caller(client)
    seeded = await seed(client, 24)
    seen: list[int] = []
    for page in (1, 2, 3):
        data, meta = await page_of(client, token, page=page, per_page=10)
        assert (meta["page"], meta["per_page"], meta["total"], meta["pages"]) == (page, 10, 25, 3)
        assert len(data) == (10 if page < 3 else 5)
        seen.extend(ids(data))
    assert seen == sorted([me["id"], *ids(seeded)])


async def test_pages_is_the_ceiling_of_total_over_per_page(client: Client) -> None:
    _, token = await caller(client)
    await seed(client, 24)
    for per_page in (1, 2, 5, 7, 24, 25, 26, 100):
        data, meta = await page_of(client, token, per_page=per_page)
        assert meta["total"] == 25
        assert meta["per_page"] == per_page
        assert meta["pages"] == math.ceil(25 / per_page), per_page
        assert len(data) == min(per_page, 25)


async def test_a_page_past_the_end_is_empty(client: Client) -> None:
    _, token = await caller(client)
    await seed(client, 4)
    for page in (2, 3, 1000, 10**9):
        data, meta = await page_of(client, token, page=page, per_page=5)
        assert data == []
        assert meta["page"] == page
        assert meta["total"] == 5
        assert meta["pages"] == 1


@pytest.mark.parametrize(
    "filters",
    [{}, {"role": "user"}, {"status": "active", "sort": "-name"}, {"q": "example"}, {"q": "e"}],
    ids=["none", "role", "status", "q-indexed", "q-scanned"],
)
async def test_a_page_far_past_the_end_is_empty(client: Client, filters: dict[str, str]) -> None:
    """A window of offset + limit + 1 past 2**63 was a 500 (OverflowError on SQLite, out of
    int64 range on PostgreSQL) on every list but the unfiltered one."""
    _, token = await caller(client)
    for page in (10**12, 2**63 - 1):  # the second is beyond any 64-bit OFFSET
        data, meta = await page_of(client, token, page=page, per_page=100, **filters)
        assert data == []
        assert meta["page"] == page


async def test_a_page_beyond_64_bits_is_rejected_not_an_error(client: Client) -> None:
    # Pages, like ids, are 64-bit integers: beyond that is out of range (422), never a 500.
    _, token = await caller(client)
    response = await listing(client, token, page=2**63)
    assert response.status_code == 422
    assert "page" in (await response.get_json())["error"]["details"]


async def test_no_match_gives_zero_pages(client: Client) -> None:
    _, token = await caller(client)
    await seed(client, 3)
    response = await listing(client, token, q="matches-nobody")
    assert response.status_code == 200
    body = await response.get_json()
    assert body["data"] == []
    assert body["meta"]["total"] == 0
    assert body["meta"]["pages"] == 0
    assert body["meta"]["page"] == 1
    links = parse_link_header(response.headers["Link"])
    assert set(links) == {"first", "last"}
    assert link_query(links["first"])["page"] == ["1"]
    assert link_query(links["last"])["page"] == ["1"]
    assert link_query(links["last"])["q"] == ["matches-nobody"]


BAD_VALUES = {
    "page": ["0", "-1", "abc", "1.5", "", "1e3"],
    "per_page": ["0", "101", "-5", "ten", "2.0e1", ""],
    "sort": ["bogus", "password", "--id", "+id", "Name", "id,name", ""],
    "role": ["superuser", "Admin", ""],
}


@pytest.mark.parametrize("param", sorted(BAD_VALUES))
async def test_bad_query_parameters_are_422_naming_the_parameter(
    client: Client, param: str
) -> None:
    _, token = await caller(client)
    for value in BAD_VALUES[param]:
        response = await listing(client, token, **{param: value})
        assert response.status_code == 422, (value, await response.get_data(as_text=True))
        body = await response.get_json()
        assert body["error"]["code"] == "VALIDATION_ERROR"
        assert param in body["error"]["details"], value


async def test_a_bad_token_is_401_before_a_bad_query_is_422(client: Client) -> None:
    """Who calls comes first: the query is looked at only for a live token."""
    for headers in ({}, bearer("no-such-token")):
        response = await client.get("/api/users?per_page=0&sort=nope", headers=headers)
        assert response.status_code == 401
        assert (await response.get_json())["error"]["code"] == "UNAUTHORIZED"
    _, token = await caller(client)
    response = await client.get("/api/users?per_page=0&sort=nope", headers=bearer(token))
    assert response.status_code == 422


@pytest.mark.parametrize(("param", "value"), [("per_page", 1), ("per_page", 100), ("page", 1)])
async def test_boundary_values_are_accepted(client: Client, param: str, value: int) -> None:
    _, token = await caller(client)
    _, meta = await page_of(client, token, **{param: value})
    assert meta[param] == value


async def test_unknown_query_parameters_are_ignored(client: Client) -> None:
    me, token = await caller(client)
    data, meta = await page_of(client, token, foo="bar", limit="3", offset="x")
    assert data == [me]
    assert meta["per_page"] == 20


# --- Sorting ------------------------------------------------------------------------------

NAMES = ["delta", "alpha", "charlie", "alpha", "bravo", "delta", "echo", "bravo"]
LOCALS = ["kilo", "echo", "juliet", "foxtrot", "india", "golf", "hotel", "lima"]


async def sort_fixture(client: Client) -> tuple[str, list[Json]]:
    _, token = await caller(client)
    for name, local in zip(NAMES, LOCALS, strict=True):
        await register(client, name=name, email=f"{local}@example.com")
    return token, await everyone(client, token)


def sort_key(user: Json, field: str) -> Any:
    if field == "created_at":
        return datetime.fromisoformat(user["created_at"])
    return user[field]


def expected_order(users: list[Json], sort: str) -> list[int]:
    """Ordered by the field (descending with `-`), ties always by id ascending."""
    field = sort.lstrip("-")
    by_id = sorted(users, key=lambda user: user["id"])
    ordered = sorted(by_id, key=lambda user: sort_key(user, field), reverse=sort.startswith("-"))
    return ids(ordered)


SORTS = ["id", "-id", "name", "-name", "email", "-email", "created_at", "-created_at"]


async def test_sorting(client: Client) -> None:
    token, users = await sort_fixture(client)
    assert len(users) == 9
    for sort in SORTS:
        data, meta = await page_of(client, token, sort=sort, per_page=100)
        assert meta["total"] == 9
        assert ids(data) == expected_order(users, sort), sort


async def test_ties_are_broken_by_id_ascending_across_pages(client: Client) -> None:
    token, users = await sort_fixture(client)
    by_name: dict[str, list[int]] = {}
    for user in users:
        by_name.setdefault(user["name"], []).append(user["id"])
    for sort in ("name", "-name"):
        seen: list[Json] = []
        for page in range(1, 4):
            data, meta = await page_of(client, token, sort=sort, per_page=3, page=page)
            assert meta["pages"] == 3
            seen.extend(data)
        assert ids(seen) == expected_order(users, sort), sort
        names = [user["name"] for user in seen]
        expected_names = sorted((user["name"] for user in users), reverse=sort.startswith("-"))
        assert names == expected_names
        for name in ("alpha", "bravo", "delta"):
            assert len(by_name[name]) == 2
            in_order = [user["id"] for user in seen if user["name"] == name]
            assert in_order == sorted(by_name[name]), (sort, name)


async def test_descending_id_is_the_reverse_of_ascending(client: Client) -> None:
    token, users = await sort_fixture(client)
    ascending, _ = await page_of(client, token, sort="id", per_page=100)
    descending, _ = await page_of(client, token, sort="-id", per_page=100)
    assert ids(descending) == list(reversed(ids(ascending)))
    assert ids(ascending) == sorted(ids(users))


# --- Filtering ----------------------------------------------------------------------------

FILTER_USERS = [
    ("100% real", "pct@example.com"),
    ("1000 real", "thousand@example.com"),
    ("a_b", "underscore@example.com"),
    ("axb", "letter@example.com"),
    ("a/b", "slash@example.com"),
    ("ab", "plain@example.com"),
    ("back\\slash", "backslash@example.com"),
    ("backxslash", "notbackslash@example.com"),
    ("Mary SMITH", "mary@example.com"),
    ("Nobody", "John.Smith@Example.ORG"),
]


async def filter_fixture(client: Client) -> tuple[str, dict[str, int]]:
    _, token = await caller(client)
    by_name: dict[str, int] = {}
    for name, email in FILTER_USERS:
        by_name[name] = (await register(client, name=name, email=email))["id"]
    return token, by_name


Q_CASES = [
    ("%", ["100% real"]),
    ("0%", ["100% real"]),
    ("% r", ["100% real"]),
    ("_", ["a_b"]),
    ("a_b", ["a_b"]),
    ("a/b", ["a/b"]),
    ("\\", ["back\\slash"]),
    ("k\\s", ["back\\slash"]),
    ("real", ["100% real", "1000 real"]),
    ("smith", ["Mary SMITH", "Nobody"]),
    ("SMITH", ["Mary SMITH", "Nobody"]),
    ("mArY", ["Mary SMITH"]),
    ("EXAMPLE.org", ["Nobody"]),
    ("john.smith@example.org", ["Nobody"]),
    ("UNDERSCORE@", ["a_b"]),
]


async def test_q_is_a_literal_case_insensitive_substring_of_name_or_email(
    client: Client,
) -> None:
    token, by_name = await filter_fixture(client)
    for q, names in Q_CASES:
        data, meta = await page_of(client, token, q=q)
        assert ids(data) == sorted(by_name[name] for name in names), q
        assert meta["total"] == len(names)
        assert meta["pages"] == 1


async def test_empty_q_filters_nothing(client: Client) -> None:
    token, by_name = await filter_fixture(client)
    _, meta = await page_of(client, token, q="")
    assert meta["total"] == len(by_name) + 1


async def test_a_long_q_matches_nothing(client: Client) -> None:
    _, token = await caller(client)
    data, meta = await page_of(client, token, q="x" * 300)
    assert data == []
    assert meta["total"] == 0


async def test_role_filter(app: Quart, client: Client) -> None:
    admin, admin_token = await admin_with_token(app, client)
    created = await client.post(
        "/api/users",
        json={
            "name": "admin two",
            "email": "admin2@example.com",
            "password": PASSWORD,
            "role": "admin",
        },
        headers=bearer(admin_token),
    )
    assert created.status_code == 201
    second_admin = (await created.get_json())["data"]
    plain = await seed(client, 3)

    admins, meta = await page_of(client, admin_token, role="admin")
    assert ids(admins) == sorted([admin["id"], second_admin["id"]])
    assert meta["total"] == 2
    users, meta = await page_of(client, admin_token, role="user")
    assert ids(users) == ids(plain)
    assert meta["total"] == 3
    assert {user["role"] for user in users} == {"user"}
    both, meta = await page_of(client, admin_token, role="admin", q="TWO")
    assert ids(both) == [second_admin["id"]]
    assert meta["total"] == 1
    none, meta = await page_of(client, admin_token, role="user", q="admin")
    assert none == []
    assert (meta["total"], meta["pages"]) == (0, 0)


async def test_filters_and_paging_combine(client: Client) -> None:
    _, token = await caller(client)
    wanted = await seed(client, 7, prefix="wanted")
    await seed(client, 5, prefix="other")
    data, meta = await page_of(client, token, q="WANTED", per_page=3, page=3, sort="-id")
    assert (meta["total"], meta["pages"], meta["page"]) == (7, 3, 3)
    assert ids(data) == [wanted[0]["id"]]


# --- Link header --------------------------------------------------------------------------


async def test_link_header_on_a_middle_page_keeps_the_other_parameters(client: Client) -> None:
    _, token = await caller(client)
    await seed(client, 13, prefix="linked")
    query = {"q": "linked 1", "sort": "-name", "per_page": "1", "page": "2", "role": "user"}
    response = await listing(client, token, **query)
    assert response.status_code == 200
    body = await response.get_json()
    assert body["meta"]["total"] == 3  # linked 10, linked 11 and linked 12
    links = parse_link_header(response.headers["Link"])
    assert set(links) == {"first", "prev", "next", "last"}
    expected_pages = {"first": "1", "prev": "1", "next": "3", "last": "3"}
    for relation, page in expected_pages.items():
        assert link_query(links[relation]) == {
            "page": [page],
            "q": ["linked 1"],
            "sort": ["-name"],
            "per_page": ["1"],
            "role": ["user"],
        }


async def test_links_lead_to_the_pages_they_name(client: Client) -> None:
    _, token = await caller(client)
    seeded = await seed(client, 9, prefix="walk")
    response = await listing(client, token, q="walk", sort="-email", per_page=4)
    links = parse_link_header(response.headers["Link"])
    assert set(links) == {"first", "next", "last"}
    expected = sorted(ids(seeded), reverse=True)
    seen = ids((await response.get_json())["data"])
    target: str | None = links["next"]
    visited = 1
    while target is not None:
        following = await client.get(target, headers=bearer(token))
        assert following.status_code == 200
        seen.extend(ids((await following.get_json())["data"]))
        followed = parse_link_header(following.headers["Link"])
        assert followed["first"] == links["first"]
        assert followed["last"] == links["last"]
        assert "prev" in followed
        target = followed.get("next")
        visited += 1
    assert visited == 3
    assert seen == expected
    last = await client.get(links["last"], headers=bearer(token))
    assert (await last.get_json())["meta"]["page"] == 3


async def test_first_page_has_no_prev_and_last_page_has_no_next(client: Client) -> None:
    _, token = await caller(client)
    await seed(client, 5)
    first = parse_link_header((await listing(client, token, per_page=2)).headers["Link"])
    assert set(first) == {"first", "next", "last"}
    assert link_query(first["next"])["page"] == ["2"]
    assert link_query(first["last"])["page"] == ["3"]
    last = parse_link_header((await listing(client, token, per_page=2, page=3)).headers["Link"])
    assert set(last) == {"first", "prev", "last"}
    assert link_query(last["prev"])["page"] == ["2"]


async def test_a_single_page_links_only_to_itself(client: Client) -> None:
    _, token = await caller(client)
    response = await listing(client, token, sort="name")
    links = parse_link_header(response.headers["Link"])
    assert set(links) == {"first", "last"}
    for target in links.values():
        assert link_query(target) == {"page": ["1"], "sort": ["name"]}


async def test_a_page_past_the_end_links_back_but_not_forward(client: Client) -> None:
    _, token = await caller(client)
    await seed(client, 3)
    response = await listing(client, token, per_page=2, page=5)
    assert (await response.get_json())["data"] == []
    links = parse_link_header(response.headers["Link"])
    assert "next" not in links
    assert link_query(links["last"])["page"] == ["2"]
    assert link_query(links["first"])["page"] == ["1"]


async def test_link_header_round_trips_special_characters(client: Client) -> None:
    _, token = await caller(client)
    await register(client, name="100% real & more", email="special@example.com")
    await register(client, name="100% real & again", email="special2@example.com")
    q = "100% real & "
    response = await listing(client, token, q=q, per_page=1)
    assert (await response.get_json())["meta"]["total"] == 2
    links = parse_link_header(response.headers["Link"])
    assert link_query(links["next"])["q"] == [q]
    following = await client.get(links["next"], headers=bearer(token))
    assert (await following.get_json())["data"][0]["name"] == "100% real & again"


def test_link_parser_handles_rfc_8288_forms() -> None:
    header = (
        '</a?page=1>; rel="first prev", </a?page=3>;rel=next ; title="x, y",</a?page=9>; rel=last'
    )
    assert parse_link_header(header) == {
        "first": "/a?page=1",
        "prev": "/a?page=1",
        "next": "/a?page=3",
        "last": "/a?page=9",
    }

"""Lists at any size (docs/API.md §3): cursors, exact totals from maintained counts, `q` through
the substring index with the exact semantics of a scan, the cost bound, and rows that a bulk
import wrote with plain SQL."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from roster.db import database
from roster.settings import Settings

from .bulk import execute, import_users
from .conftest import BACKEND, with_settings
from .factories import Account, Accounts
from .helpers import Client, Json, assert_error, body_of, serving

SQLITE = BACKEND == "sqlite"
SORTS = ("id", "-id", "name", "-name", "email", "-email", "created_at", "-created_at")
NAMES = ("Mia", "Ada", "Zoe", "Ada", "Bob", "Mia", "Ada")  # ties: the id breaks them


async def get_list(account: Account, **params: Any) -> Json:
    response = await account.client.get(
        "/api/users", query_string=params, headers=account.headers()
    )
    assert response.status_code == 200, await response.get_data(as_text=True)
    return await body_of(response)


async def walk(account: Account, **params: Any) -> list[Json]:
    """Every item, following next_cursor from the first page."""
    body = await get_list(account, **params)
    items = list(body["data"])
    while body["meta"]["next_cursor"] is not None:
        body = await get_list(account, cursor=body["meta"]["next_cursor"])
        assert set(body["meta"]) == {"request_id", "per_page", "next_cursor"}
        items += body["data"]
    return items


def expected_order(users: list[Json], sort: str) -> list[int]:
    field = sort.lstrip("-")
    if field in ("id", "email"):
        ordered = sorted(users, key=lambda user: user[field], reverse=sort.startswith("-"))
        return [user["id"] for user in ordered]
    by_id = sorted(users, key=lambda user: user["id"])
    ordered = sorted(by_id, key=lambda user: user[field], reverse=sort.startswith("-"))
    return [user["id"] for user in ordered]  # stable sort: ties stay in ascending id


@pytest.fixture
async def crowd(accounts: Accounts, admin: Account) -> list[Json]:
    """Users with repeated names, two admins, one disabled user; the caller is `admin`."""
    made = [(await accounts.user(name)).user for name in NAMES]
    await accounts.admin("Ada")
    disabled = made[2]
    response = await admin.client.patch(
        f"/api/users/{disabled['id']}", json={"status": "disabled"}, headers=admin.headers()
    )
    assert response.status_code == 200
    everyone = await get_list(admin, per_page=100)
    return list(everyone["data"])


# --- cursors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("sort", SORTS)
async def test_a_cursor_walk_yields_every_user_once_in_order(
    admin: Account, crowd: list[Json], sort: str
) -> None:
    walked = await walk(admin, sort=sort, per_page=2)
    assert [user["id"] for user in walked] == expected_order(crowd, sort)


@pytest.mark.parametrize(
    ("filters", "wanted"),
    [
        ({"role": "admin"}, lambda user: user["role"] == "admin"),
        ({"status": "disabled"}, lambda user: user["status"] == "disabled"),
        (
            {"role": "user", "status": "active"},
            lambda u: (u["role"], u["status"]) == ("user", "active"),
        ),
        ({"q": "ad"}, lambda user: "ad" in user["name"].lower() or "ad" in user["email"]),
    ],
)
@pytest.mark.parametrize("sort", ["-name", "created_at", "email"])
async def test_filtered_walks_and_pages_agree_with_the_filter(
    admin: Account, crowd: list[Json], filters: dict[str, str], wanted: Any, sort: str
) -> None:
    expected = expected_order([user for user in crowd if wanted(user)], sort)
    walked = await walk(admin, sort=sort, per_page=2, **filters)
    assert [user["id"] for user in walked] == expected
    page = await get_list(admin, sort=sort, per_page=100, **filters)
    assert [user["id"] for user in page["data"]] == expected
    assert page["meta"]["total"] == len(expected)


async def test_rows_that_exist_throughout_are_never_skipped_or_repeated(
    accounts: Accounts, admin: Account, crowd: list[Json]
) -> None:
    first = await get_list(admin, sort="name", per_page=3)
    seen = [user["id"] for user in first["data"]]
    deleted = first["data"][0]["id"]  # already seen: deleting it must not shift the rest
    response = await admin.client.delete(f"/api/users/{deleted}", headers=admin.headers())
    assert response.status_code == 204
    created = [(await accounts.user(name)).user["id"] for name in ("Aaron", "Zed", "Mia")]
    cursor = first["meta"]["next_cursor"]
    while cursor is not None:
        body = await get_list(admin, cursor=cursor)
        seen += [user["id"] for user in body["data"]]
        cursor = body["meta"]["next_cursor"]
    throughout = {user["id"] for user in crowd} - {deleted}
    assert len(seen) == len(set(seen))  # nothing twice
    assert throughout <= set(seen)  # nothing that existed throughout is missed
    assert set(seen) - throughout - {deleted} <= set(created)


async def test_a_cursor_response_has_its_own_meta_and_a_next_link(
    admin: Account, crowd: list[Json]
) -> None:
    first = await get_list(admin, per_page=3)
    assert first["meta"]["total"] == len(crowd)
    response = await admin.client.get(
        "/api/users",
        query_string={"cursor": first["meta"]["next_cursor"]},
        headers=admin.headers(),
    )
    body = await body_of(response)
    assert body["meta"]["per_page"] == 3
    (link,) = response.headers["Link"].split(", ")
    target, relation = link.split("; ")
    assert relation == 'rel="next"'
    assert parse_qs(urlsplit(target.strip("<>")).query)["cursor"] == [body["meta"]["next_cursor"]]
    last = await get_list(admin, per_page=100, cursor=body["meta"]["next_cursor"])
    assert last["meta"]["next_cursor"] is None
    assert len(first["data"]) + len(body["data"]) + len(last["data"]) == len(crowd)


async def test_per_page_with_a_cursor_overrides_the_carried_one(
    admin: Account, crowd: list[Json]
) -> None:
    first = await get_list(admin, per_page=2)
    body = await get_list(admin, cursor=first["meta"]["next_cursor"], per_page=4)
    assert body["meta"]["per_page"] == 4
    assert [user["id"] for user in body["data"]] == expected_order(crowd, "id")[2:6]


async def test_the_carried_values_may_be_repeated(admin: Account, crowd: list[Json]) -> None:
    first = await get_list(admin, sort="-name", role="user", per_page=2)
    again = await get_list(admin, cursor=first["meta"]["next_cursor"], sort="-name", role="user")
    assert len(again["data"]) == 2


@pytest.mark.parametrize(
    "extra",
    [
        {"page": 2},
        {"page": 1},
        {"sort": "name"},
        {"q": "ada"},
        {"role": "admin"},
        {"status": "active"},
    ],
)
async def test_a_cursor_with_other_values_names_the_cursor(
    admin: Account, crowd: list[Json], extra: dict[str, Any]
) -> None:
    first = await get_list(admin, per_page=2)
    response = await admin.client.get(
        "/api/users",
        query_string={"cursor": first["meta"]["next_cursor"], **extra},
        headers=admin.headers(),
    )
    details = await assert_error(response, 422, "VALIDATION_ERROR")
    assert "cursor" in details


def altered(cursor: str) -> str:
    payload, signature = cursor.split(".")
    fields = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    fields["role"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(fields).encode()).rstrip(b"=").decode()
    return f"{forged}.{signature}"


@pytest.mark.parametrize(
    "spoil",
    [
        altered,
        lambda cursor: cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB"),
        lambda cursor: "not-a-cursor",
        lambda cursor: "a.b",
        lambda cursor: cursor.split(".")[0],
        lambda cursor: "x" * 2000 + ".y",
        lambda cursor: '"; DROP TABLE users; --',
    ],
)
async def test_a_malformed_or_altered_cursor_names_the_cursor(
    admin: Account, crowd: list[Json], spoil: Any
) -> None:
    first = await get_list(admin, per_page=2)
    response = await admin.client.get(
        "/api/users",
        query_string={"cursor": spoil(first["meta"]["next_cursor"])},
        headers=admin.headers(),
    )
    details = await assert_error(response, 422, "VALIDATION_ERROR")
    assert set(details) == {"cursor"}
    assert (await get_list(admin, per_page=100))["meta"]["total"] == len(crowd)  # nothing lost


async def test_cursors_survive_a_restart_and_serve_every_worker(
    settings: Settings, admin: Account, crowd: list[Json]
) -> None:
    """The signing secret is in the database: another process (a restart, another worker or
    host) accepts the cursors this one made."""
    first = await get_list(admin, per_page=2)
    async with serving(settings) as other:
        client = other.test_client()
        response = await client.get(
            "/api/users",
            query_string={"cursor": first["meta"]["next_cursor"]},
            headers=admin.headers(),
        )
        assert response.status_code == 200
        body = await body_of(response)
    assert [user["id"] for user in body["data"]] == expected_order(crowd, "id")[2:4]


# --- totals ----------------------------------------------------------------------------------


async def test_totals_follow_every_write(
    accounts: Accounts, admin: Account, crowd: list[Json]
) -> None:
    async def totals() -> tuple[int, int, int]:
        everyone = await get_list(admin)
        admins = await get_list(admin, role="admin")
        disabled = await get_list(admin, status="disabled")
        return everyone["meta"]["total"], admins["meta"]["total"], disabled["meta"]["total"]

    before = await totals()
    assert before == (len(crowd), 2, 1)
    bob = await accounts.user("Bob")
    assert await totals() == (len(crowd) + 1, 2, 1)
    response = await admin.client.patch(
        bob.url, json={"role": "admin", "status": "disabled"}, headers=admin.headers()
    )
    assert response.status_code == 200
    assert await totals() == (len(crowd) + 1, 3, 2)
    response = await admin.client.delete(bob.url, headers=admin.headers())
    assert response.status_code == 204
    assert await totals() == before


async def test_bulk_imported_rows_are_listed_counted_and_found(
    database_url: str, admin: Account, crowd: list[Json]
) -> None:
    imported = [(f"Imported Ünïcode {index}", f"bulk{index}@import.test") for index in range(30)]
    await import_users(database_url, imported)
    await import_users(database_url, [("Imported Boss", "boss@import.test")], role="admin")
    everyone = await get_list(admin, per_page=100)
    assert everyone["meta"]["total"] == len(crowd) + 31
    assert {user["email"] for user in everyone["data"]} >= {email for _, email in imported}
    assert all(user["status"] == "active" for user in everyone["data"][-31:])  # its default
    found = await get_list(admin, q="ÜNÏCODE 2")
    assert sorted(user["name"] for user in found["data"]) == [
        "Imported Ünïcode 2",
        *(f"Imported Ünïcode {index}" for index in range(20, 30)),
    ]
    assert (await get_list(admin, q="bulk1"))["meta"]["total"] == 11
    assert (await get_list(admin, role="admin"))["meta"]["total"] == 3
    await execute(database_url, "DELETE FROM users WHERE email LIKE '%@import.test'")
    assert (await get_list(admin))["meta"]["total"] == len(crowd)
    assert (await get_list(admin, q="import"))["meta"]["total"] == 0


# --- q: exactly a case-insensitive substring, through whichever index serves it --------------


SEARCHED = (
    ("İstanbul Office", "ist@example.com"),  # İ lower-cases to "i̇": two characters
    ("Kelvin \u212a Scale", "kelvin@example.com"),  # the Kelvin sign lower-cases to "k"
    ("100% Pure_Name", "pure@example.com"),
    ('Quote "Marks"', "quote@example.com"),
    ("ΣΊΣΥΦΟΣ Greek", "greek@example.com"),
    ("Plain Person", "plain@example.com"),
    ("Straße Street", "strasse@example.com"),
)


@pytest.fixture
async def searched(database_url: str, alice: Account) -> Account:
    await import_users(database_url, SEARCHED)
    return alice


@pytest.mark.parametrize(
    ("q", "expected_emails"),
    [
        # Where lower() itself differs: Python's (SQLite) maps İ to "i̇" and a final Σ to ς,
        # PostgreSQL's (one character for one) to "i" and the small sigma. As a scan says.
        ("i̇stanbul", {"ist@example.com"} if SQLITE else set()),
        ("İSTANBUL", {"ist@example.com"}),
        ("istanbul", set() if SQLITE else {"ist@example.com"}),
        ("al", {"kelvin@example.com"}),
        ("ai", {"plain@example.com"}),
        ("vin k sc", {"kelvin@example.com"}),  # the Kelvin sign matches "k"
        ("K SCALE", {"kelvin@example.com"}),
        ("100%", {"pure@example.com"}),
        ("0% p", {"pure@example.com"}),
        ("%", {"pure@example.com"}),
        ("_", {"pure@example.com"}),
        ("e_n", {"pure@example.com"}),
        ("e%n", set()),
        ('"marks"', {"quote@example.com"}),
        ('"', {"quote@example.com"}),
        ("σίσυφοσ", set() if SQLITE else {"greek@example.com"}),
        ("σίσυφος", {"greek@example.com"} if SQLITE else set()),
        ("ΣΊΣΥΦΟΣ", {"greek@example.com"}),
        ("straße", {"strasse@example.com"}),
        ("STRASSE@", {"strasse@example.com"}),
        ("@EXAMPLE.COM", {email for _, email in SEARCHED}),
        ("zzz", set()),
    ],
)
async def test_q_matches_exactly_what_a_scan_would(
    searched: Account, q: str, expected_emails: set[str]
) -> None:
    found = await get_list(searched, q=q, per_page=100)
    emails = {user["email"] for user in found["data"]} - {searched.email}
    assert emails == expected_emails
    assert found["meta"]["total"] == len(found["data"])
    walked = await walk(searched, q=q, per_page=1)
    assert {user["email"] for user in walked} - {searched.email} == expected_emails


async def test_q_sees_renames(searched: Account, admin: Account) -> None:
    plain = (await get_list(admin, q="plain person"))["data"][0]
    response = await admin.client.patch(
        f"/api/users/{plain['id']}", json={"name": "Renamed Rita"}, headers=admin.headers()
    )
    assert response.status_code == 200
    assert (await get_list(admin, q="plain person"))["meta"]["total"] == 0
    assert [user["id"] for user in (await get_list(admin, q="med rit"))["data"]] == [plain["id"]]


# --- the cost bound --------------------------------------------------------------------------


async def test_a_list_past_its_budget_is_a_clear_422_and_the_service_goes_on(
    database_url: str, settings: Settings
) -> None:
    await import_users(
        database_url, [(f"Émile {i}", f"emile{i}@example.com") for i in range(20_000)]
    )
    async with serving(with_settings(settings, list_budget_ms=1)) as app:
        client: Client = app.test_client()
        accounts = Accounts(app, client)
        caller = await accounts.user()
        # A short non-ASCII q is matched by a scan of every row, with its exact total.
        response = await client.get("/api/users", query_string={"q": "é"}, headers=caller.headers())
        error = await assert_error(response, 422, "QUERY_TOO_EXPENSIVE")
        assert error == {}
        cheap = await client.get("/api/users", headers=caller.headers())
        assert cheap.status_code == 200
        assert (await body_of(cheap))["meta"]["total"] == 20_001
        profile = await client.get("/api/profile", headers=caller.headers())
        assert profile.status_code == 200


async def test_a_list_too_slow_for_the_readers_is_finished_on_the_lane(
    database_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the readers' short allowance, the same query starts again on the bounded lane,
    where the full budget applies: the client sees only its answer."""
    monkeypatch.setattr(database, "QUICK_MS", 1)
    rows = [(f"Émile {i}", f"emile{i}@example.com") for i in range(20_000)]
    await import_users(database_url, rows)
    async with serving(settings) as app:
        caller = await Accounts(app, app.test_client()).user()
        # Through the substring index, but matching every row: slower than the readers allow.
        response = await caller.client.get(
            "/api/users", query_string={"q": "emile", "per_page": 5}, headers=caller.headers()
        )
        assert response.status_code == 200
        assert (await body_of(response))["meta"]["total"] == 20_000


async def test_concurrent_costly_lists_never_fail_cheap_requests(
    database_url: str, alice: Account
) -> None:
    await import_users(
        database_url, [(f"Émile {i}", f"emile{i}@example.com") for i in range(2_000)]
    )

    async def costly() -> int:
        response = await alice.client.get(
            "/api/users", query_string={"q": "é"}, headers=alice.headers()
        )
        return response.status_code

    async def cheap() -> int:
        response = await alice.client.get("/api/profile", headers=alice.headers())
        return response.status_code

    statuses = await asyncio.gather(*(costly() for _ in range(8)), *(cheap() for _ in range(8)))
    assert statuses == [200] * 16

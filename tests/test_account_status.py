"""Account status (docs/API.md §3, v1.1): `active` or `disabled`; only an admin sets it, and
disabling ends every session at once."""

from __future__ import annotations

import pytest
from quart import Quart
from sqlalchemy import update

from roster.db.models import User

from .factories import Account, Accounts
from .helpers import (
    PASSWORD,
    Client,
    assert_error,
    body_of,
    database_session,
    unique_email,
)


async def status_of(client: Client, token: str, user_id: int) -> str:
    response = await client.get(
        f"/api/users/{user_id}", headers={"Authorization": f"Bearer {token}"}
    )
    status: str = (await body_of(response))["data"]["status"]
    return status


async def login(client: Client, email: str, password: str = PASSWORD) -> int:
    response = await client.post("/api/tokens", json={"email": email, "password": password})
    return response.status_code


async def disable(client: Client, admin: Account, user: Account) -> None:
    response = await client.patch(user.url, json={"status": "disabled"}, headers=admin.headers())
    assert response.status_code == 200, await response.get_data(as_text=True)
    assert (await body_of(response))["data"]["status"] == "disabled"


async def test_users_are_active_by_default(client: Client, alice: Account) -> None:
    assert alice.user["status"] == "active"
    assert await status_of(client, alice.token, alice.id) == "active"


async def test_only_an_admin_sets_the_status(client: Client, accounts: Accounts) -> None:
    alice, admin = await accounts.user(), await accounts.admin()
    refused = await client.patch(alice.url, json={"status": "disabled"}, headers=alice.headers())
    assert "status" in await assert_error(refused, 403, "FORBIDDEN")
    same = await client.patch(alice.url, json={"status": "active"}, headers=alice.headers())
    assert same.status_code == 200  # one's current value may be sent back

    body = {"name": "Off", "email": unique_email(), "password": PASSWORD, "status": "disabled"}
    anonymous = await client.post("/api/users", json=body)
    assert "status" in await assert_error(anonymous, 403, "FORBIDDEN")
    by_admin = await client.post("/api/users", json=body, headers=admin.headers())
    assert by_admin.status_code == 201
    assert (await body_of(by_admin))["data"]["status"] == "disabled"
    assert await login(client, body["email"]) == 403

    put = await client.put(
        alice.url, json={**alice.user, "status": "disabled"}, headers=admin.headers()
    )
    assert (await body_of(put))["data"]["status"] == "disabled"


@pytest.mark.parametrize("value", ["inactive", "", None, 1])
async def test_an_unknown_status_is_422(client: Client, admin: Account, value: object) -> None:
    response = await client.patch(admin.url, json={"status": value}, headers=admin.headers())
    assert "status" in await assert_error(response, 422, "VALIDATION_ERROR")


async def test_disabling_ends_every_session_at_once(client: Client, accounts: Accounts) -> None:
    alice, admin = await accounts.user(), await accounts.admin()
    other = await client.post("/api/tokens", json={"email": alice.email, "password": PASSWORD})
    tokens = [alice.token, (await body_of(other))["data"]["token"]]
    await disable(client, admin, alice)
    for token in tokens:
        response = await client.get("/api/profile", headers={"Authorization": f"Bearer {token}"})
        await assert_error(response, 401, "UNAUTHORIZED")


async def test_a_disabled_user_learns_it_only_with_the_right_password(
    client: Client, accounts: Accounts
) -> None:
    alice, admin = await accounts.user(), await accounts.admin()
    await disable(client, admin, alice)
    wrong = await client.post("/api/tokens", json={"email": alice.email, "password": "nope-nope"})
    unknown = await client.post(
        "/api/tokens", json={"email": unique_email(), "password": "nope-nope"}
    )
    assert await assert_error(wrong, 401, "UNAUTHORIZED") == {}
    assert (await body_of(wrong))["error"] == (await body_of(unknown))["error"]
    right = await client.post("/api/tokens", json={"email": alice.email, "password": PASSWORD})
    details = await assert_error(right, 403, "ACCOUNT_DISABLED")
    assert details == {}

    enabled = await client.patch(alice.url, json={"status": "active"}, headers=admin.headers())
    assert enabled.status_code == 200
    assert await login(client, alice.email) == 201


async def test_an_admin_cannot_disable_themself(client: Client, admin: Account) -> None:
    response = await client.patch(admin.url, json={"status": "disabled"}, headers=admin.headers())
    assert "status" in await assert_error(response, 403, "FORBIDDEN")
    assert await status_of(client, admin.token, admin.id) == "active"


async def test_a_user_disabled_in_the_database_is_refused_at_once(
    app: Quart, client: Client, alice: Account
) -> None:
    """However the status changed (a bulk update by SQL, say), its tokens stop working: on
    every kind of read, a list page too (read in the caller's own statement on PostgreSQL)."""
    async with database_session(app) as session:
        await session.execute(update(User).where(User.id == alice.id).values(status="disabled"))
        await session.commit()
    for path in ("/api/profile", "/api/users", "/api/users?sort=-name&page=2&per_page=1"):
        response = await client.get(path, headers=alice.headers())
        await assert_error(response, 401, "UNAUTHORIZED")


async def test_the_list_filters_by_status(client: Client, accounts: Accounts) -> None:
    alice, bob, admin = await accounts.user(), await accounts.user("Bob"), await accounts.admin()
    await disable(client, admin, bob)
    for status, expected in (("disabled", {bob.id}), ("active", {alice.id, admin.id})):
        response = await client.get(f"/api/users?status={status}", headers=admin.headers())
        assert {user["id"] for user in (await body_of(response))["data"]} == expected
    bad = await client.get("/api/users?status=gone", headers=admin.headers())
    assert "status" in await assert_error(bad, 422, "VALIDATION_ERROR")

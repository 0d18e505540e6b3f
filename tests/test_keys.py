"""API keys (docs/API.md §2): their routes, scopes, limits and every way they end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from quart import Quart
from sqlalchemy import update

from roster.db.models import ApiKey
from roster.settings import Settings

from .factories import Account, Accounts
from .helpers import (
    PASSWORD,
    Client,
    Json,
    all_cells,
    assert_envelope,
    assert_error,
    bearer,
    database_session,
    parse_timestamp,
    runtime_of,
    send,
    serving,
)

KEY_FIELDS = {"id", "name", "scopes", "prefix", "created_at", "expires_at", "last_used_at"}
CHALLENGE = 'Bearer error="insufficient_scope"'


async def create(client: Client, owner: Account, **body: object) -> tuple[int, Json]:
    body = {"name": "nightly export", "scopes": ["users:read"], **body}
    response = await client.post("/api/keys", json=body, headers=owner.headers())
    return response.status_code, await response.get_json()


async def status_with(client: Client, key: str, method: str, path: str) -> int:
    return (await send(client, method, path, headers=bearer(key))).status_code


async def test_a_key_is_shown_once_and_kept_only_as_a_hash(
    app: Quart, client: Client, alice: Account
) -> None:
    response = await client.post(
        "/api/keys",
        json={"name": "  nightly export ", "scopes": ["users:read", "profile:read"]},
        headers=alice.headers(),
    )
    body = await assert_envelope(response)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    key = body["data"]
    assert set(key) == KEY_FIELDS | {"key"}
    assert response.headers["Location"] == f"/api/keys/{key['id']}"
    assert key["name"] == "nightly export"
    assert key["scopes"] == ["users:read", "profile:read"]
    assert key["key"].startswith("rk_")
    assert len(key["key"]) == 46
    assert key["prefix"] == key["key"][:9]
    assert key["last_used_at"] is None
    lifetime = parse_timestamp(key["expires_at"]) - parse_timestamp(key["created_at"])
    assert lifetime == timedelta(days=90)
    assert not any(key["key"] in cell for cell in await all_cells(app))

    listed = await client.get("/api/keys", headers=alice.headers())
    assert (await listed.get_json())["data"] == [{k: key[k] for k in KEY_FIELDS}]
    one = await client.get(f"/api/keys/{key['id']}", headers=alice.headers())
    assert (await one.get_json())["data"] == {k: key[k] for k in KEY_FIELDS}


async def test_keys_are_listed_newest_first_and_anothers_is_a_404(
    client: Client, accounts: Accounts, alice: Account
) -> None:
    first = (await create(client, alice, name="first"))[1]["data"]["id"]
    second = (await create(client, alice, name="second"))[1]["data"]["id"]
    listed = await client.get("/api/keys", headers=alice.headers())
    assert [key["id"] for key in (await listed.get_json())["data"]] == [second, first]
    bob = await accounts.user("Bob")
    for method in ("GET", "DELETE"):
        response = await send(client, method, f"/api/keys/{first}", headers=bob.headers())
        await assert_error(response, 404, "NOT_FOUND")


async def test_a_key_acts_as_its_owner_within_its_scopes(
    client: Client, accounts: Accounts, alice: Account
) -> None:
    key = await accounts.key(alice, "users:read")
    assert await status_with(client, key, "GET", "/api/users") == 200
    response = await client.get(alice.url, headers=bearer(key))
    assert (await response.get_json())["data"]["id"] == alice.id
    for method, path, scope in (
        ("GET", "/api/profile", "profile:read"),
        ("PATCH", alice.url, "users:write"),
        ("DELETE", alice.url, "users:write"),
        ("PATCH", "/api/users/999999", "users:write"),  # refused before it can tell a 404
    ):
        response = await send(client, method, path, {"name": "X"}, bearer(key))
        details = await assert_error(response, 403, "INSUFFICIENT_SCOPE")
        assert details == {"scope": f"Needs {scope}"}
        assert response.headers["WWW-Authenticate"] == f'{CHALLENGE}, scope="{scope}"'
    assert await status_with(client, key, "GET", "/api/users/999999") == 404
    writer = await accounts.key(alice, "users:write", "profile:read")
    response = await client.patch(alice.url, json={"name": "Alice K."}, headers=bearer(writer))
    assert (await response.get_json())["data"]["name"] == "Alice K."
    promote = await client.patch(alice.url, json={"role": "admin"}, headers=bearer(writer))
    await assert_error(promote, 403, "FORBIDDEN")  # within the owner's own rights
    profile = await client.get("/api/profile", headers=bearer(writer))
    assert (await profile.get_json())["data"]["id"] == alice.id


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/tokens"),
        ("DELETE", "/api/tokens/current"),
        ("DELETE", "/api/tokens/others"),
        ("DELETE", "/api/tokens/1"),
        ("GET", "/api/keys"),
        ("POST", "/api/keys"),
        ("GET", "/api/keys/1"),
        ("DELETE", "/api/keys/1"),
        ("GET", "/api/users/{id}/tokens"),
        ("DELETE", "/api/users/{id}/tokens"),
        ("GET", "/api/users/{id}/keys"),
        ("DELETE", "/api/users/{id}/keys/1"),
        ("POST", "/api/email-verifications"),
    ],
)
async def test_a_key_may_not_manage_sessions_or_keys(
    client: Client, accounts: Accounts, admin: Account, method: str, path: str
) -> None:
    every_scope = ("profile:read", "users:read", "users:write", "tokens:introspect")
    key = await accounts.key(admin, *every_scope)
    body = {"name": "k", "scopes": ["users:read"]} if method == "POST" else None
    response = await send(client, method, path.replace("{id}", str(admin.id)), body, bearer(key))
    await assert_error(response, 403, "INSUFFICIENT_SCOPE")
    assert response.headers["WWW-Authenticate"] == CHALLENGE  # no scope would allow it
    assert await status_with(client, key, "GET", "/api/profile") == 200  # not revoked


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scopes": ["users:read", "users:delete"]}, "scopes"),
        ({"scopes": []}, "scopes"),
        ({"scopes": ["users:read", "users:read"]}, "scopes"),
        ({"scopes": "users:read"}, "scopes"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"expires_at": "tomorrow"}, "expires_at"),
        ({"secret": "mine"}, "secret"),
    ],
)
async def test_a_bad_key_request_is_a_422_naming_the_field(
    client: Client, alice: Account, body: Json, field: str
) -> None:
    response = await client.post(
        "/api/keys", json={"name": "job", "scopes": ["users:read"], **body}, headers=alice.headers()
    )
    details = await assert_error(response, 422, "VALIDATION_ERROR")
    assert any(key == field or key.startswith(f"{field}.") for key in details), details


async def test_expiry_is_bounded_and_kept(client: Client, alice: Account) -> None:
    too_far = (datetime.now(UTC) + timedelta(days=367)).isoformat()
    response = await client.post(
        "/api/keys",
        json={"name": "job", "scopes": ["users:read"], "expires_at": too_far},
        headers=alice.headers(),
    )
    assert "expires_at" in await assert_error(response, 422, "VALIDATION_ERROR")
    soon = datetime.now(UTC) + timedelta(days=7)
    status, body = await create(client, alice, expires_at=soon.isoformat())
    assert status == 201
    assert parse_timestamp(body["data"]["expires_at"]) == soon


async def test_only_an_admin_may_hold_the_admin_scopes(
    client: Client, alice: Account, admin: Account
) -> None:
    for scope in ("audit:read", "tokens:introspect"):
        status, body = await create(client, alice, scopes=["users:read", scope])
        assert status == 403
        assert body["error"]["code"] == "FORBIDDEN"
        assert body["error"]["details"] == {"scopes": f"Only an admin may hold the scope {scope}"}
        assert (await create(client, admin, scopes=[scope]))[0] == 201


async def test_a_demoted_admins_key_loses_its_admin_scopes_at_once(
    client: Client, accounts: Accounts, admin: Account
) -> None:
    other_admin = await accounts.admin("Other")
    key = await accounts.key(admin, "tokens:introspect", "users:read")
    introspect = {"token": admin.token}
    response = await client.post("/api/tokens/introspect", json=introspect, headers=bearer(key))
    assert (await response.get_json())["active"] is True
    demoted = await client.patch(admin.url, json={"role": "user"}, headers=other_admin.headers())
    assert demoted.status_code == 200
    response = await client.post("/api/tokens/introspect", json=introspect, headers=bearer(key))
    await assert_error(response, 403, "INSUFFICIENT_SCOPE")
    assert response.headers["WWW-Authenticate"] == f'{CHALLENGE}, scope="tokens:introspect"'
    assert await status_with(client, key, "GET", "/api/users") == 200  # the rest it keeps


async def test_a_user_holds_at_most_max_keys_per_user(settings: Settings) -> None:
    async with serving(settings, max_keys_per_user=2) as app:
        client = app.test_client()
        alice = await Accounts(app, client).user()
        ids = [(await create(client, alice))[1]["data"]["id"] for _ in range(2)]
        status, body = await create(client, alice)
        assert (status, body["error"]["code"]) == (409, "CONFLICT")
        revoked = await client.delete(f"/api/keys/{ids[0]}", headers=alice.headers())
        assert revoked.status_code == 204
        assert (await create(client, alice))[0] == 201


async def test_an_expired_key_is_refused_and_not_listed(
    app: Quart, client: Client, accounts: Accounts, alice: Account
) -> None:
    key = await accounts.key(alice)
    async with database_session(app) as session:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await session.execute(update(ApiKey).values(expires_at=past))
        await session.commit()
    response = await client.get("/api/users", headers=bearer(key))
    await assert_error(response, 401, "UNAUTHORIZED")
    listed = await client.get("/api/keys", headers=alice.headers())
    assert (await listed.get_json())["data"] == []


async def revoked_by(client: Client, accounts: Accounts, cause: str, admin: Account) -> None:
    """A user with a key, and a key of another user's; `cause` ends the first user's keys
    (and only theirs)."""
    alice = await accounts.user("Alice")
    key = await accounts.key(alice)
    bystander = await accounts.key(await accounts.user("Bob"))
    if cause == "owner":
        key_id = (await (await client.get("/api/keys", headers=alice.headers())).get_json())[
            "data"
        ][0]["id"]
        response = await client.delete(f"/api/keys/{key_id}", headers=alice.headers())
    elif cause == "admin":
        listed = await client.get(f"{alice.url}/keys", headers=admin.headers())
        key_id = (await listed.get_json())["data"][0]["id"]
        response = await client.delete(f"{alice.url}/keys/{key_id}", headers=admin.headers())
    elif cause == "password":
        response = await client.patch(
            alice.url, json={"password": "another-password"}, headers=alice.headers()
        )
    elif cause == "disabled":
        response = await client.patch(
            alice.url, json={"status": "disabled"}, headers=admin.headers()
        )
    else:
        response = await client.delete(alice.url, headers=admin.headers())
    assert response.status_code in (200, 204)
    await assert_error(await client.get("/api/users", headers=bearer(key)), 401, "UNAUTHORIZED")
    assert await status_with(client, bystander, "GET", "/api/users") == 200


@pytest.mark.parametrize("cause", ["owner", "admin", "password", "disabled", "deleted"])
async def test_a_key_ends_with_every_cause_at_once(
    client: Client, accounts: Accounts, admin: Account, cause: str
) -> None:
    await revoked_by(client, accounts, cause, admin)


async def test_the_admin_routes_are_for_admins(
    client: Client, accounts: Accounts, alice: Account, admin: Account
) -> None:
    await accounts.key(alice)
    bob = await accounts.user("Bob")
    for method, path in (("GET", f"{alice.url}/keys"), ("DELETE", f"{alice.url}/keys/1")):
        response = await send(client, method, path, headers=bob.headers())
        await assert_error(response, 403, "FORBIDDEN")
        response = await send(client, method, path, headers=alice.headers())
        await assert_error(response, 403, "FORBIDDEN")  # admins only, even for one's own
        missing = path.replace(str(alice.id), "999999")
        response = await send(client, method, missing, headers=admin.headers())
        await assert_error(response, 404, "NOT_FOUND")
    listed = await client.get(f"{alice.url}/keys", headers=admin.headers())
    assert len((await listed.get_json())["data"]) == 1
    not_hers = await client.delete(f"{bob.url}/keys/1", headers=admin.headers())
    await assert_error(not_hers, 404, "NOT_FOUND")


async def test_last_used_at_is_kept_off_the_requests_path(
    app: Quart, client: Client, accounts: Accounts, alice: Account
) -> None:
    key = await accounts.key(alice)
    assert await status_with(client, key, "GET", "/api/users") == 200
    await runtime_of(app).key_touches.flush()
    listed = await client.get("/api/keys", headers=alice.headers())
    [shown] = (await listed.get_json())["data"]
    used = parse_timestamp(shown["last_used_at"])
    assert datetime.now(UTC) - used < timedelta(seconds=30)


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Basic rk_" + "a" * 43},
        {"X-API-Key": "rk_" + "a" * 43},
        {"Authorization": "Bearer rk_" + "a" * 43},
        {"Authorization": "Bearer rk_" + "a" * (1024 * 1024)},
        {"Authorization": "Bearer rk_"},
    ],
    ids=["basic", "other-header", "unknown", "a-mebibyte", "prefix-only"],
)
async def test_a_key_in_the_wrong_place_or_unknown_is_a_401(
    client: Client, headers: dict[str, str]
) -> None:
    response = await client.get("/api/users", headers=headers)
    await assert_error(response, 401, "UNAUTHORIZED")


async def test_registration_with_a_key_needs_users_write(
    client: Client, accounts: Accounts, alice: Account
) -> None:
    reader = await accounts.key(alice, "users:read")
    body = {"name": "New", "email": "new-by-key@example.com", "password": PASSWORD}
    response = await client.post("/api/users", json=body, headers=bearer(reader))
    await assert_error(response, 403, "INSUFFICIENT_SCOPE")
    writer = await accounts.key(alice, "users:write")
    response = await client.post("/api/users", json=body, headers=bearer(writer))
    assert response.status_code == 201

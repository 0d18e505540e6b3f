"""docs/API.md §3: `role`, which only an admin may set, and who may change whom."""

from __future__ import annotations

import pytest
from quart import Quart

from .factories import admin_with_token, user_with_token
from .helpers import (
    NEW_PASSWORD,
    PASSWORD,
    Client,
    assert_error,
    bearer,
    body_of,
    fetch,
    login_status,
    profile_status,
    register,
    unique_email,
)

# --- Field rules: role --------------------------------------------------------------------


async def test_role_defaults_to_user(client: Client) -> None:
    user, token = await user_with_token(client)
    assert user["role"] == "user"
    assert (await fetch(client, token, user["id"]))["role"] == "user"


async def test_registering_with_role_user_explicitly_is_allowed(client: Client) -> None:
    body = {"name": "Plain", "email": unique_email(), "password": PASSWORD, "role": "user"}
    response = await client.post("/api/users", json=body)
    assert response.status_code == 201
    assert (await body_of(response))["data"]["role"] == "user"


async def test_anonymous_registering_an_admin_is_forbidden(client: Client) -> None:
    email = unique_email()
    body = {"name": "Sneaky", "email": email, "password": PASSWORD, "role": "admin"}
    response = await client.post("/api/users", json=body)
    details = await assert_error(response, 403, "FORBIDDEN")
    assert "role" in details
    assert "Location" not in response.headers
    assert await login_status(client, email, PASSWORD) == 401


async def test_non_admin_registering_an_admin_is_forbidden(client: Client) -> None:
    _, token = await user_with_token(client)
    email = unique_email()
    body = {"name": "Sneaky", "email": email, "password": PASSWORD, "role": "admin"}
    response = await client.post("/api/users", json=body, headers=bearer(token))
    await assert_error(response, 403, "FORBIDDEN")
    assert await login_status(client, email, PASSWORD) == 401


async def test_admin_may_register_admins_and_users(app: Quart, client: Client) -> None:
    _, admin_token = await admin_with_token(app, client)
    for role in ("admin", "user"):
        email = unique_email(role)
        body = {"name": "Made", "email": email, "password": PASSWORD, "role": role}
        response = await client.post("/api/users", json=body, headers=bearer(admin_token))
        assert response.status_code == 201
        created = (await body_of(response))["data"]
        assert created["role"] == role
        assert (await fetch(client, admin_token, created["id"]))["role"] == role
    response = await client.post(
        "/api/users",
        json={"name": "Plain", "email": unique_email(), "password": PASSWORD},
        headers=bearer(admin_token),
    )
    assert (await body_of(response))["data"]["role"] == "user"


@pytest.mark.parametrize("role", ["superuser", "Admin", "", 1])
async def test_unknown_role_is_rejected(app: Quart, client: Client, role: object) -> None:
    _, admin_token = await admin_with_token(app, client)
    body = {"name": "Odd", "email": unique_email(), "password": PASSWORD, "role": role}
    response = await client.post("/api/users", json=body, headers=bearer(admin_token))
    assert set(await assert_error(response, 422, "VALIDATION_ERROR")) == {"role"}


async def test_admin_may_change_roles(app: Quart, client: Client) -> None:
    _, admin_token = await admin_with_token(app, client)
    user, token = await user_with_token(client)
    other = await register(client, name="Other")
    path = f"/api/users/{user['id']}"

    promoted = await client.patch(path, json={"role": "admin"}, headers=bearer(admin_token))
    assert promoted.status_code == 200
    assert (await body_of(promoted))["data"]["role"] == "admin"
    assert (await fetch(client, admin_token, user["id"]))["role"] == "admin"
    # The promotion is real: the user may now edit someone else.
    edited = await client.patch(
        f"/api/users/{other['id']}", json={"name": "Renamed"}, headers=bearer(token)
    )
    assert edited.status_code == 200

    demoted = await client.put(
        path,
        json={"name": user["name"], "email": user["email"], "role": "user"},
        headers=bearer(admin_token),
    )
    assert demoted.status_code == 200
    assert (await fetch(client, admin_token, user["id"]))["role"] == "user"
    again = await client.patch(
        f"/api/users/{other['id']}", json={"name": "Again"}, headers=bearer(token)
    )
    await assert_error(again, 403, "FORBIDDEN")


async def test_non_admin_may_send_their_current_role(client: Client) -> None:
    user, token = await user_with_token(client)
    path = f"/api/users/{user['id']}"
    patched = await client.patch(path, json={"role": "user", "name": "Al"}, headers=bearer(token))
    assert patched.status_code == 200
    assert (await body_of(patched))["data"]["name"] == "Al"
    put = await client.put(
        path, json={"name": "Alice", "email": user["email"], "role": "user"}, headers=bearer(token)
    )
    assert put.status_code == 200
    assert (await body_of(put))["data"]["role"] == "user"


async def test_admin_keeps_their_role_when_sending_it(app: Quart, client: Client) -> None:
    admin, admin_token = await admin_with_token(app, client)
    response = await client.patch(
        f"/api/users/{admin['id']}", json={"role": "admin"}, headers=bearer(admin_token)
    )
    assert response.status_code == 200
    assert (await body_of(response))["data"] == admin


async def test_non_admin_may_not_change_their_role(client: Client) -> None:
    user, token = await user_with_token(client)
    path = f"/api/users/{user['id']}"
    patched = await client.patch(path, json={"role": "admin"}, headers=bearer(token))
    assert "role" in await assert_error(patched, 403, "FORBIDDEN")
    put = await client.put(
        path,
        json={"name": "Alice", "email": user["email"], "role": "admin"},
        headers=bearer(token),
    )
    await assert_error(put, 403, "FORBIDDEN")
    assert await fetch(client, token, user["id"]) == user


async def test_non_admin_may_not_touch_another_user(client: Client) -> None:
    _, token = await user_with_token(client)
    victim, victim_token = await user_with_token(client, name="Victim")
    path = f"/api/users/{victim['id']}"
    responses = [
        await client.patch(path, json={"name": "Hacked"}, headers=bearer(token)),
        await client.put(
            path, json={"name": "Hacked", "email": unique_email()}, headers=bearer(token)
        ),
        await client.patch(path, json={"password": NEW_PASSWORD}, headers=bearer(token)),
        await client.delete(path, headers=bearer(token)),
    ]
    for response in responses:
        await assert_error(response, 403, "FORBIDDEN")
    assert await fetch(client, token, victim["id"]) == victim
    assert await profile_status(client, victim_token) == 200
    assert await login_status(client, victim["email"], PASSWORD) == 201


async def test_forbidden_wins_over_invalid_body(client: Client) -> None:
    _, token = await user_with_token(client)
    victim = await register(client, name="Victim")
    response = await client.patch(
        f"/api/users/{victim['id']}", json={"name": "", "bogus": 1}, headers=bearer(token)
    )
    await assert_error(response, 403, "FORBIDDEN")


async def test_missing_user_wins_over_forbidden(client: Client) -> None:
    user, token = await user_with_token(client)
    path = f"/api/users/{user['id'] + 1000}"
    patched = await client.patch(path, json={"name": "Ghost"}, headers=bearer(token))
    await assert_error(patched, 404, "NOT_FOUND")
    put = await client.put(
        path, json={"name": "Ghost", "email": unique_email()}, headers=bearer(token)
    )
    await assert_error(put, 404, "NOT_FOUND")
    await assert_error(await client.delete(path, headers=bearer(token)), 404, "NOT_FOUND")


async def test_admin_may_edit_and_delete_anyone(app: Quart, client: Client) -> None:
    _, admin_token = await admin_with_token(app, client)
    user = await register(client)
    path = f"/api/users/{user['id']}"
    new_email = unique_email("changed")
    put = await client.put(
        path, json={"name": "Replaced", "email": new_email}, headers=bearer(admin_token)
    )
    assert put.status_code == 200
    patched = await client.patch(path, json={"name": "Patched"}, headers=bearer(admin_token))
    assert patched.status_code == 200
    stored = await fetch(client, admin_token, user["id"])
    assert stored["name"] == "Patched"
    assert stored["email"] == new_email
    deleted = await client.delete(path, headers=bearer(admin_token))
    assert deleted.status_code == 204
    got = await client.get(path, headers=bearer(admin_token))
    await assert_error(got, 404, "NOT_FOUND")

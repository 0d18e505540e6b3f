"""docs/API.md §3: PUT, PATCH and DELETE, and what a password change does to tokens."""

from __future__ import annotations

import pytest
from quart import Quart

from .factories import admin_with_token, user_with_token
from .helpers import (
    NEW_PASSWORD,
    PASSWORD,
    Client,
    Json,
    assert_error,
    bearer,
    body_of,
    fetch,
    login,
    login_status,
    parse_timestamp,
    profile_status,
    register,
    send,
    unique_email,
)

# --- PUT ----------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["name", "email"])
async def test_put_without_a_required_field_is_rejected(client: Client, missing: str) -> None:
    user, token = await user_with_token(client)
    body = {"name": "Full", "email": unique_email()}
    del body[missing]
    response = await client.put(f"/api/users/{user['id']}", json=body, headers=bearer(token))
    details = await assert_error(response, 422, "VALIDATION_ERROR")
    assert set(details) == {missing}
    assert await fetch(client, token, user["id"]) == user


async def test_put_replaces_the_writable_fields(client: Client) -> None:
    user, token = await user_with_token(client)
    new_email = unique_email("new")
    response = await client.put(
        f"/api/users/{user['id']}",
        json={"name": " Replaced ", "email": new_email.upper()},
        headers=bearer(token),
    )
    assert response.status_code == 200
    data = (await body_of(response))["data"]
    assert data["name"] == "Replaced"
    assert data["email"] == new_email
    assert data["created_at"] == user["created_at"]
    assert parse_timestamp(data["updated_at"]) > parse_timestamp(user["updated_at"])
    assert response.headers["ETag"] != ""
    assert await fetch(client, token, user["id"]) == data
    assert await login_status(client, new_email, PASSWORD) == 201
    assert await login_status(client, user["email"], PASSWORD) == 401


async def test_noop_put_keeps_updated_at_and_etag(client: Client) -> None:
    user, token = await user_with_token(client)
    path = f"/api/users/{user['id']}"
    before = await client.get(path, headers=bearer(token))
    response = await client.put(
        path,
        json={"name": f"  {user['name']} ", "email": user["email"].upper()},
        headers=bearer(token),
    )
    assert response.status_code == 200
    assert (await body_of(response))["data"] == user
    assert response.headers["ETag"] == before.headers["ETag"]
    after = await client.get(path, headers=bearer(token))
    assert (await body_of(after))["data"]["updated_at"] == user["updated_at"]
    assert after.headers["ETag"] == before.headers["ETag"]


async def test_put_with_a_password_always_counts_as_a_change(client: Client) -> None:
    user, token = await user_with_token(client)
    path = f"/api/users/{user['id']}"
    before = await client.get(path, headers=bearer(token))
    body = {"name": user["name"], "email": user["email"], "password": PASSWORD}
    response = await client.put(path, json=body, headers=bearer(token))
    assert response.status_code == 200
    data = (await body_of(response))["data"]
    assert parse_timestamp(data["updated_at"]) > parse_timestamp(user["updated_at"])
    assert response.headers["ETag"] != before.headers["ETag"]
    after = await client.get(path, headers=bearer(token))
    assert after.headers["ETag"] == response.headers["ETag"]
    assert (await body_of(after))["data"] == data


async def test_repeating_a_put_returns_the_same_representation(client: Client) -> None:
    user, token = await user_with_token(client)
    path = f"/api/users/{user['id']}"
    body = {"name": "Twice", "email": unique_email("twice")}
    first = await client.put(path, json=body, headers=bearer(token))
    second = await client.put(path, json=body, headers=bearer(token))
    assert first.status_code == second.status_code == 200
    assert (await body_of(first))["data"] == (await body_of(second))["data"]
    assert first.headers["ETag"] == second.headers["ETag"]
    assert await fetch(client, token, user["id"]) == (await body_of(second))["data"]


async def test_put_with_an_email_taken_by_another_user_conflicts(client: Client) -> None:
    user, token = await user_with_token(client)
    other = await register(client, name="Other")
    response = await client.put(
        f"/api/users/{user['id']}",
        json={"name": "Taken", "email": other["email"].upper()},
        headers=bearer(token),
    )
    assert await assert_error(response, 409, "CONFLICT") == {"email": "Already registered"}
    assert await fetch(client, token, user["id"]) == user


# --- PATCH --------------------------------------------------------------------------------


async def test_empty_patch_is_a_noop(client: Client) -> None:
    user, token = await user_with_token(client)
    path = f"/api/users/{user['id']}"
    before = await client.get(path, headers=bearer(token))
    response = await client.patch(path, json={}, headers=bearer(token))
    assert response.status_code == 200
    assert (await body_of(response))["data"] == user
    assert response.headers["ETag"] == before.headers["ETag"]
    assert await fetch(client, token, user["id"]) == user


async def test_patch_changes_only_the_fields_given(client: Client) -> None:
    user, token = await user_with_token(client)
    path = f"/api/users/{user['id']}"
    response = await client.patch(path, json={"name": "Only Name"}, headers=bearer(token))
    assert response.status_code == 200
    data = (await body_of(response))["data"]
    assert data["name"] == "Only Name"
    assert data["email"] == user["email"]
    assert data["role"] == user["role"]
    assert data["created_at"] == user["created_at"]
    assert parse_timestamp(data["updated_at"]) > parse_timestamp(user["updated_at"])

    new_email = unique_email("patched")
    response = await client.patch(
        path, json={"email": f" {new_email.upper()}"}, headers=bearer(token)
    )
    assert response.status_code == 200
    stored = await fetch(client, token, user["id"])
    assert stored["name"] == "Only Name"
    assert stored["email"] == new_email
    assert await login_status(client, new_email, PASSWORD) == 201
    # A change of name or email is not a password change: the user's tokens survive.
    assert await profile_status(client, token) == 200


async def test_patch_with_an_email_taken_by_another_user_conflicts(client: Client) -> None:
    user, token = await user_with_token(client)
    other = await register(client, name="Other")
    response = await client.patch(
        f"/api/users/{user['id']}", json={"email": other["email"].upper()}, headers=bearer(token)
    )
    assert await assert_error(response, 409, "CONFLICT") == {"email": "Already registered"}
    assert await fetch(client, token, user["id"]) == user
    assert await fetch(client, token, other["id"]) == other


async def test_patch_to_own_email_in_another_case_is_fine(client: Client) -> None:
    user, token = await user_with_token(client)
    response = await client.patch(
        f"/api/users/{user['id']}", json={"email": user["email"].upper()}, headers=bearer(token)
    )
    assert response.status_code == 200
    assert (await body_of(response))["data"] == user
    assert await fetch(client, token, user["id"]) == user


# --- DELETE -------------------------------------------------------------------------------


async def test_admin_delete_then_404_and_tokens_revoked(app: Quart, client: Client) -> None:
    _, admin_token = await admin_with_token(app, client)
    user, token = await user_with_token(client)
    second_token = await login(client, user["email"])
    path = f"/api/users/{user['id']}"
    response = await client.delete(path, headers=bearer(admin_token))
    assert response.status_code == 204
    assert await response.get_data() == b""
    await assert_error(await client.get(path, headers=bearer(admin_token)), 404, "NOT_FOUND")
    await assert_error(await client.delete(path, headers=bearer(admin_token)), 404, "NOT_FOUND")
    for revoked in (token, second_token):
        profile = await client.get("/api/profile", headers=bearer(revoked))
        await assert_error(profile, 401, "UNAUTHORIZED")
    assert await login_status(client, user["email"], PASSWORD) == 401
    assert await profile_status(client, admin_token) == 200


async def test_user_may_delete_themself(client: Client) -> None:
    user, token = await user_with_token(client)
    watcher, watcher_token = await user_with_token(client, name="Watcher")
    response = await client.delete(f"/api/users/{user['id']}", headers=bearer(token))
    assert response.status_code == 204
    assert await profile_status(client, token) == 401
    got = await client.get(f"/api/users/{user['id']}", headers=bearer(watcher_token))
    await assert_error(got, 404, "NOT_FOUND")
    # The email is free again.
    again = await register(client, email=user["email"])
    assert again["id"] != user["id"]
    assert await fetch(client, watcher_token, watcher["id"]) == watcher


# --- Password changes and tokens ----------------------------------------------------------


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
async def test_password_change_revokes_the_users_other_tokens(client: Client, method: str) -> None:
    user = await register(client)
    tokens = [await login(client, user["email"]) for _ in range(3)]
    body: Json = {"password": NEW_PASSWORD}
    if method == "PUT":
        body |= {"name": user["name"], "email": user["email"]}
    response = await send(client, method, f"/api/users/{user['id']}", body, bearer(tokens[0]))
    assert response.status_code == 200
    assert await profile_status(client, tokens[0]) == 200
    for revoked in tokens[1:]:
        profile = await client.get("/api/profile", headers=bearer(revoked))
        await assert_error(profile, 401, "UNAUTHORIZED")
    assert await login_status(client, user["email"], PASSWORD) == 401
    assert await login_status(client, user["email"], NEW_PASSWORD) == 201


async def test_admin_changing_a_password_revokes_all_of_that_users_tokens(
    app: Quart, client: Client
) -> None:
    _, admin_token = await admin_with_token(app, client)
    bystander, bystander_token = await user_with_token(client, name="Bystander")
    user = await register(client)
    tokens = [await login(client, user["email"]) for _ in range(2)]
    response = await client.patch(
        f"/api/users/{user['id']}", json={"password": NEW_PASSWORD}, headers=bearer(admin_token)
    )
    assert response.status_code == 200
    for revoked in tokens:
        assert await profile_status(client, revoked) == 401
    assert await profile_status(client, admin_token) == 200
    assert await profile_status(client, bystander_token) == 200
    assert await login_status(client, user["email"], NEW_PASSWORD) == 201
    assert bystander["id"] != user["id"]


async def test_failed_password_change_revokes_nothing(client: Client) -> None:
    user = await register(client)
    tokens = [await login(client, user["email"]) for _ in range(2)]
    other = await register(client, name="Other")
    response = await client.patch(
        f"/api/users/{user['id']}",
        json={"password": NEW_PASSWORD, "email": other["email"]},
        headers=bearer(tokens[0]),
    )
    await assert_error(response, 409, "CONFLICT")
    for token in tokens:
        assert await profile_status(client, token) == 200
    assert await login_status(client, user["email"], PASSWORD) == 201
    assert await login_status(client, user["email"], NEW_PASSWORD) == 401

"""docs/API.md §3: the /api/users resource: its representation, registration and reads."""

from __future__ import annotations

import pytest
from quart import Quart

from .factories import admin_with_token, user_with_token
from .helpers import (
    NEW_PASSWORD,
    PASSWORD,
    Client,
    assert_error,
    assert_representation,
    bearer,
    body_of,
    fetch,
    login,
    parse_timestamp,
    register,
    send,
    unique_email,
)

# --- Representation -----------------------------------------------------------------------


async def test_register_returns_the_user_with_location_and_etag(client: Client) -> None:
    email = unique_email()
    body = {"name": "Alice", "email": email, "password": PASSWORD}
    response = await client.post("/api/users", json=body)
    assert response.status_code == 201
    raw = await response.get_data(as_text=True)
    assert PASSWORD not in raw
    assert "password" not in raw
    assert "hash" not in raw
    envelope = await body_of(response)
    assert set(envelope) == {"data", "meta"}
    user = envelope["data"]
    assert_representation(user)
    assert user["name"] == "Alice"
    assert user["email"] == email
    assert user["role"] == "user"
    assert parse_timestamp(user["created_at"]) == parse_timestamp(user["updated_at"])
    assert response.headers["Location"] == f"/api/users/{user['id']}"
    etag = response.headers["ETag"]
    assert etag.startswith('"')
    assert etag.endswith('"')

    token = await login(client, email)
    got = await client.get(response.headers["Location"], headers=bearer(token))
    assert got.status_code == 200
    assert (await body_of(got))["data"] == user
    assert got.headers["ETag"] == etag


async def test_ids_are_distinct_positive_integers(client: Client) -> None:
    first = await register(client)
    second = await register(client)
    assert first["id"] >= 1
    assert second["id"] >= 1
    assert first["id"] != second["id"]


async def test_get_user_has_etag_and_representation(client: Client) -> None:
    user, token = await user_with_token(client)
    other = await register(client, name="Bob")
    response = await client.get(f"/api/users/{other['id']}", headers=bearer(token))
    assert response.status_code == 200
    body = await body_of(response)
    assert body["data"] == other
    assert body["meta"]["request_id"] == response.headers["X-Request-ID"]
    assert response.headers["ETag"]
    raw = await response.get_data(as_text=True)
    assert "password" not in raw
    assert user["id"] != other["id"]


async def test_get_missing_user_is_404(client: Client) -> None:
    user, token = await user_with_token(client)
    response = await client.get(f"/api/users/{user['id'] + 1000}", headers=bearer(token))
    details = await assert_error(response, 404, "NOT_FOUND")
    assert details == {}


async def test_no_representation_leaks_the_password(app: Quart, client: Client) -> None:
    admin, admin_token = await admin_with_token(app, client)
    user, token = await user_with_token(client)
    path = f"/api/users/{user['id']}"
    responses = [
        await client.get(path, headers=bearer(token)),
        await client.get("/api/users", headers=bearer(token)),
        await client.get("/api/profile", headers=bearer(token)),
        await client.patch(path, json={"name": "Al"}, headers=bearer(token)),
        await client.put(
            path,
            json={"name": "Al", "email": user["email"], "password": NEW_PASSWORD},
            headers=bearer(token),
        ),
        await client.patch(path, json={"password": PASSWORD}, headers=bearer(admin_token)),
    ]
    for response in responses:
        assert response.status_code == 200
        raw = await response.get_data(as_text=True)
        assert "password" not in raw
        assert "hash" not in raw
        assert PASSWORD not in raw
        assert NEW_PASSWORD not in raw
        assert "argon2" not in raw
    listed = (await body_of(responses[1]))["data"]
    assert {item["id"] for item in listed} == {admin["id"], user["id"]}
    for item in listed:
        assert_representation(item)


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("GET", "/{id}"),
        ("PUT", "/{id}"),
        ("PATCH", "/{id}"),
        ("DELETE", "/{id}"),
    ],
)
async def test_user_routes_except_register_need_a_token(
    client: Client, method: str, suffix: str
) -> None:
    user, token = await user_with_token(client)
    path = "/api/users" + suffix.format(id=user["id"])
    body = {"name": "Mallory", "email": unique_email()}
    json_body = body if method in {"PUT", "PATCH"} else None
    response = await send(client, method, path, json_body)
    details = await assert_error(response, 401, "UNAUTHORIZED")
    assert details == {}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await body_of(response))["error"]["message"] == "Token required"

    bad = await send(client, method, path, json_body, bearer("not-a-token"))
    await assert_error(bad, 401, "UNAUTHORIZED")
    assert 'error="invalid_token"' in bad.headers["WWW-Authenticate"]
    assert await fetch(client, token, user["id"]) == user

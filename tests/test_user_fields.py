"""docs/API.md §3, field rules: name, email, password; unknown fields, nulls, non-objects,
read-only fields."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from quart import Quart
from sqlalchemy import update

from roster.db.models import User

from .factories import Account, admin_with_token, user_with_token
from .helpers import (
    NEW_PASSWORD,
    PASSWORD,
    Client,
    Json,
    assert_error,
    bearer,
    body_of,
    database_session,
    fetch,
    login,
    login_status,
    register,
    unique_email,
)

# --- Field rules: name --------------------------------------------------------------------


async def test_name_is_trimmed(client: Client) -> None:
    user, token = await user_with_token(client, name="  Alice Smith \t")
    assert user["name"] == "Alice Smith"
    response = await client.patch(
        f"/api/users/{user['id']}", json={"name": "\n Bob  "}, headers=bearer(token)
    )
    assert response.status_code == 200
    assert (await fetch(client, token, user["id"]))["name"] == "Bob"


async def test_name_of_1_to_100_code_points_is_accepted(client: Client) -> None:
    for name in ("a", "é" * 100, "😀" * 100, "  " + "x" * 100 + "  "):
        user = await register(client, name=name)
        assert user["name"] == name.strip()


async def test_name_empty_after_trimming_or_too_long_is_rejected(client: Client) -> None:
    for name in ("", "   ", "\t\n ", "x" * 101, "😀" * 101):
        email = unique_email()
        response = await client.post(
            "/api/users", json={"name": name, "email": email, "password": PASSWORD}
        )
        assert response.status_code == 422, name
        details = await assert_error(response, 422, "VALIDATION_ERROR")
        assert set(details) == {"name"}
        assert await login_status(client, email, PASSWORD) == 401


async def test_name_rules_apply_to_updates(client: Client) -> None:
    user, token = await user_with_token(client)
    path = f"/api/users/{user['id']}"
    for body in (
        {"name": "   "},
        {"name": "x" * 101},
    ):
        response = await client.patch(path, json=body, headers=bearer(token))
        assert set(await assert_error(response, 422, "VALIDATION_ERROR")) == {"name"}
    response = await client.put(
        path, json={"name": " ", "email": user["email"]}, headers=bearer(token)
    )
    assert set(await assert_error(response, 422, "VALIDATION_ERROR")) == {"name"}
    assert await fetch(client, token, user["id"]) == user


# --- Field rules: email -------------------------------------------------------------------


async def test_email_is_trimmed_and_lower_cased(client: Client) -> None:
    local = unique_email("Mixed").split("@")[0]
    user = await register(client, email=f"  {local}@Example.ORG\t")
    assert user["email"] == f"{local.lower()}@example.org"
    token = await login(client, f"{local.lower()}@example.org")
    assert (await fetch(client, token, user["id"]))["email"] == user["email"]


async def test_email_of_254_characters_is_accepted(client: Client) -> None:
    domain = "@example.com"
    email = "a" * (254 - len(domain)) + domain
    assert len(email) == 254
    user = await register(client, email=f"  {email.upper()}  ")
    assert user["email"] == email


async def test_email_over_254_characters_is_rejected(client: Client) -> None:
    domain = "@example.com"
    email = "a" * (255 - len(domain)) + domain
    response = await client.post(
        "/api/users", json={"name": "Long", "email": email, "password": PASSWORD}
    )
    assert set(await assert_error(response, 422, "VALIDATION_ERROR")) == {"email"}


MALFORMED_EMAILS = [
    "a@b",
    "a@.com",
    "a@b..com",
    "a@b.",
    "@b.com",
    "a@@b.com",
    "a@b@c.com",
    "a b@c.com",
    "a@b .com",
    "a@b.\tcom",
    "ab.com",
    "",
    "   ",
]


async def test_malformed_email_is_rejected(client: Client) -> None:
    for email in MALFORMED_EMAILS:
        response = await client.post(
            "/api/users", json={"name": "Eve", "email": email, "password": PASSWORD}
        )
        assert response.status_code == 422, email
        details = await assert_error(response, 422, "VALIDATION_ERROR")
        assert set(details) == {"email"}


async def test_well_formed_email_is_accepted(client: Client) -> None:
    for email in ("a@b.co", "first.last+tag@sub.example.com", "x@y.z"):
        assert (await register(client, email=email))["email"] == email


async def test_email_rules_apply_to_updates(client: Client) -> None:
    user, token = await user_with_token(client)
    path = f"/api/users/{user['id']}"
    response = await client.patch(path, json={"email": "a@b"}, headers=bearer(token))
    assert set(await assert_error(response, 422, "VALIDATION_ERROR")) == {"email"}
    response = await client.put(
        path, json={"name": "Alice", "email": "a b@c.com"}, headers=bearer(token)
    )
    assert set(await assert_error(response, 422, "VALIDATION_ERROR")) == {"email"}
    assert await fetch(client, token, user["id"]) == user


async def test_duplicate_email_is_a_conflict_case_insensitively(client: Client) -> None:
    email = unique_email("dup")
    user, token = await user_with_token(client)
    first = await register(client, name="First", email=email)
    for duplicate in (email, email.upper(), f"  {email.capitalize()} "):
        response = await client.post(
            "/api/users", json={"name": "Second", "email": duplicate, "password": NEW_PASSWORD}
        )
        details = await assert_error(response, 409, "CONFLICT")
        assert details == {"email": "Already registered"}
    # Nothing was created, and the first registration still holds the address.
    listing = await client.get("/api/users", headers=bearer(token))
    assert (await body_of(listing))["meta"]["total"] == 2
    assert await fetch(client, token, first["id"]) == first
    assert await login_status(client, email, NEW_PASSWORD) == 401
    assert await login_status(client, email, PASSWORD) == 201
    assert user["id"] != first["id"]


# --- Field rules: password ----------------------------------------------------------------


@pytest.mark.parametrize("length", [8, 128])
async def test_password_of_8_to_128_characters_is_accepted(client: Client, length: int) -> None:
    password = "p" * length
    user = await register(client, password=password)
    assert await login_status(client, user["email"], password) == 201


@pytest.mark.parametrize("length", [0, 7, 129])
async def test_password_outside_8_to_128_characters_is_rejected(
    client: Client, length: int
) -> None:
    email = unique_email()
    response = await client.post(
        "/api/users", json={"name": "Short", "email": email, "password": "p" * length}
    )
    assert set(await assert_error(response, 422, "VALIDATION_ERROR")) == {"password"}
    assert await login_status(client, email, "p" * length) == 401


async def test_password_rules_apply_to_updates(client: Client) -> None:
    user, token = await user_with_token(client)
    path = f"/api/users/{user['id']}"
    for password in ("p" * 7, "p" * 129):
        response = await client.patch(path, json={"password": password}, headers=bearer(token))
        assert set(await assert_error(response, 422, "VALIDATION_ERROR")) == {"password"}
        response = await client.put(
            path,
            json={"name": "Alice", "email": user["email"], "password": password},
            headers=bearer(token),
        )
        assert set(await assert_error(response, 422, "VALIDATION_ERROR")) == {"password"}
    assert await login_status(client, user["email"], PASSWORD) == 201
    assert await fetch(client, token, user["id"]) == user


@pytest.mark.parametrize(
    ("field", "value"), [("name", 5), ("email", ["x"]), ("password", 12345678)]
)
async def test_field_of_wrong_type_is_rejected(client: Client, field: str, value: object) -> None:
    body: Json = {"name": "Typed", "email": unique_email(), "password": PASSWORD}
    body[field] = value
    response = await client.post("/api/users", json=body)
    assert set(await assert_error(response, 422, "VALIDATION_ERROR")) == {field}


@pytest.mark.parametrize("missing", ["name", "email", "password"])
async def test_register_with_a_missing_field_is_rejected(client: Client, missing: str) -> None:
    body: Json = {"name": "Partial", "email": unique_email(), "password": PASSWORD}
    del body[missing]
    response = await client.post("/api/users", json=body)
    assert set(await assert_error(response, 422, "VALIDATION_ERROR")) == {missing}


# --- Unknown fields, nulls, non-objects, read-only fields ----------------------------------


async def test_unknown_fields_are_rejected_and_named(client: Client) -> None:
    email = unique_email()
    body = {"name": "Al", "email": email, "password": PASSWORD, "nickname": "al", "is_admin": True}
    response = await client.post("/api/users", json=body)
    details = await assert_error(response, 422, "VALIDATION_ERROR")
    assert {"nickname", "is_admin"} <= set(details)
    assert await login_status(client, email, PASSWORD) == 401

    user, token = await user_with_token(client)
    path = f"/api/users/{user['id']}"
    patched = await client.patch(path, json={"name": "X", "nickname": "x"}, headers=bearer(token))
    assert set(await assert_error(patched, 422, "VALIDATION_ERROR")) == {"nickname"}
    put = await client.put(
        path,
        json={"name": "X", "email": user["email"], "password_hash": "x"},
        headers=bearer(token),
    )
    assert set(await assert_error(put, 422, "VALIDATION_ERROR")) == {"password_hash"}
    assert await fetch(client, token, user["id"]) == user


NULLABLE_NEVER = ["name", "email", "password", "role", "id", "created_at", "updated_at"]


async def test_null_is_rejected_on_register(app: Quart, client: Client) -> None:
    # An admin's token, so that `role` is a field the caller may send (otherwise 403 wins).
    _, admin_token = await admin_with_token(app, client)
    for field in NULLABLE_NEVER:
        email = unique_email()
        body: Json = {"name": "Nully", "email": email, "password": PASSWORD, field: None}
        response = await client.post("/api/users", json=body, headers=bearer(admin_token))
        assert response.status_code == 422, field
        assert set(await assert_error(response, 422, "VALIDATION_ERROR")) == {field}
        assert await login_status(client, email, PASSWORD) == 401


async def test_null_is_rejected_on_update(app: Quart, client: Client) -> None:
    _, admin_token = await admin_with_token(app, client)
    user, token = await user_with_token(client)
    path = f"/api/users/{user['id']}"
    for field in NULLABLE_NEVER:
        callers = [admin_token] if field == "role" else [admin_token, token]
        for caller in callers:
            patched = await client.patch(path, json={field: None}, headers=bearer(caller))
            assert patched.status_code == 422, field
            assert set(await assert_error(patched, 422, "VALIDATION_ERROR")) == {field}
            body = {"name": user["name"], "email": user["email"], field: None}
            put = await client.put(path, json=body, headers=bearer(caller))
            assert put.status_code == 422, field
            assert set(await assert_error(put, 422, "VALIDATION_ERROR")) == {field}
    assert await fetch(client, token, user["id"]) == user


async def test_null_role_from_a_non_admin_is_forbidden(client: Client) -> None:
    # Sending `role` at all (other than the role held) is admin-only; 403 precedes 422.
    user, token = await user_with_token(client)
    body = {"name": "Nully", "email": unique_email(), "password": PASSWORD, "role": None}
    await assert_error(await client.post("/api/users", json=body), 403, "FORBIDDEN")
    patched = await client.patch(
        f"/api/users/{user['id']}", json={"role": None}, headers=bearer(token)
    )
    await assert_error(patched, 403, "FORBIDDEN")
    assert await fetch(client, token, user["id"]) == user


async def test_body_that_is_not_an_object_is_rejected(client: Client) -> None:
    user, token = await user_with_token(client)
    for body in ([], ["name"], "name", 42, True, None):
        raw = json.dumps(body)
        response = await client.post(
            "/api/users", data=raw, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422, raw
        await assert_error(response, 422, "VALIDATION_ERROR")
        for call in (client.patch, client.put):
            response = await call(
                f"/api/users/{user['id']}",
                data=raw,
                headers={"Content-Type": "application/json", **bearer(token)},
            )
            assert response.status_code == 422, raw
            await assert_error(response, 422, "VALIDATION_ERROR")
    assert await fetch(client, token, user["id"]) == user


async def test_put_back_what_get_returned_changes_nothing(client: Client) -> None:
    user, token = await user_with_token(client)
    path = f"/api/users/{user['id']}"
    got = await client.get(path, headers=bearer(token))
    representation = (await body_of(got))["data"]
    response = await client.put(path, json=representation, headers=bearer(token))
    assert response.status_code == 200
    assert (await body_of(response))["data"] == representation
    assert response.headers["ETag"] == got.headers["ETag"]
    assert await fetch(client, token, user["id"]) == representation


async def test_read_only_fields_are_ignored(client: Client) -> None:
    user, token = await user_with_token(client)
    other = await register(client, name="Other")
    path = f"/api/users/{user['id']}"
    read_only = {
        "id": other["id"],
        "created_at": "2000-01-01T00:00:00Z",
        "updated_at": "2000-01-01T00:00:00Z",
    }
    patched = await client.patch(path, json={**read_only, "name": "New"}, headers=bearer(token))
    assert patched.status_code == 200
    data = (await body_of(patched))["data"]
    assert data["id"] == user["id"]
    assert data["name"] == "New"
    assert data["created_at"] == user["created_at"]
    assert data["updated_at"] != read_only["updated_at"]
    put = await client.put(
        path, json={**read_only, "name": "Newer", "email": user["email"]}, headers=bearer(token)
    )
    assert put.status_code == 200
    stored = await fetch(client, token, user["id"])
    assert stored["id"] == user["id"]
    assert stored["name"] == "Newer"
    assert stored["created_at"] == user["created_at"]
    assert await fetch(client, token, other["id"]) == other


async def test_read_only_fields_are_ignored_on_register(client: Client) -> None:
    existing = await register(client)
    body = {
        "name": "Copy",
        "email": unique_email(),
        "password": PASSWORD,
        "id": existing["id"],
        "created_at": "2000-01-01T00:00:00Z",
        "updated_at": "2000-01-01T00:00:00Z",
    }
    response = await client.post("/api/users", json=body)
    assert response.status_code == 201, await response.get_data(as_text=True)
    created = (await body_of(response))["data"]
    assert created["id"] != existing["id"]
    assert not created["created_at"].startswith("2000-")
    token = await login(client, body["email"])
    assert await fetch(client, token, existing["id"]) == existing


async def test_timestamps_always_have_six_fraction_digits(
    app: Quart, client: Client, alice: Account
) -> None:
    """A stored time on a whole second (a bulk import's, say) is still written as §1 shows one:
    `.000000Z`, never a shorter form a client's strict parser might refuse."""
    whole = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    async with database_session(app) as session:
        changed = update(User).where(User.id == alice.id).values(created_at=whole)
        await session.execute(changed)
        await session.commit()
    stored = await fetch(client, alice.token, alice.id)
    assert stored["created_at"] == "2026-01-02T03:04:05.000000Z"
    assert stored["updated_at"].endswith("Z")
    assert len(stored["updated_at"]) == len("2026-01-02T03:04:05.000000Z")
    listed = await client.get("/api/users?per_page=100", headers=alice.headers())
    [row] = [user for user in (await body_of(listed))["data"] if user["id"] == alice.id]
    assert row["created_at"] == "2026-01-02T03:04:05.000000Z"

"""Section 3 of the contract (and the user parts of 2): the /api/users resource."""

from __future__ import annotations

import json

import pytest
from quart import Quart

from .helpers import (
    PASSWORD,
    Client,
    Json,
    admin_with_token,
    assert_error,
    bearer,
    body_of,
    login,
    parse_timestamp,
    register,
    send,
    unique_email,
    user_with_token,
)

FIELDS = {"id", "name", "email", "role", "created_at", "updated_at"}
NEW_PASSWORD = "another-long-secret"


async def fetch(client: Client, token: str, user_id: int) -> Json:
    response = await client.get(f"/api/users/{user_id}", headers=bearer(token))
    assert response.status_code == 200, await response.get_data(as_text=True)
    data: Json = (await body_of(response))["data"]
    return data


async def profile_status(client: Client, token: str) -> int:
    return (await client.get("/api/profile", headers=bearer(token))).status_code


async def login_status(client: Client, email: str, password: str) -> int:
    response = await client.post("/api/tokens", json={"email": email, "password": password})
    return response.status_code


def assert_representation(user: Json) -> None:
    assert set(user) == FIELDS
    assert isinstance(user["id"], int)
    assert not isinstance(user["id"], bool)
    assert user["id"] >= 1
    assert user["role"] in {"user", "admin"}
    parse_timestamp(user["created_at"])
    parse_timestamp(user["updated_at"])


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

"""Strong ETags, If-None-Match on GET and If-Match on PUT, PATCH and DELETE (contract §3)."""

from __future__ import annotations

import re

import pytest
from quart import Quart
from quart.wrappers import Response

from .factories import admin_with_token, user_with_token
from .helpers import (
    PASSWORD,
    Client,
    Json,
    assert_error,
    bearer,
    body_of,
    login,
    register,
    send,
    unique_email,
)

STRONG_ETAG = re.compile(r'^"[\x21\x23-\x7e\x80-\xff]*"$')  # RFC 9110 entity-tag, not W/
STALE = '"0123456789abcdef0123456789abcdef"'


async def data_of(response: Response) -> Json:
    data: Json = (await body_of(response))["data"]
    return data


async def current(client: Client, token: str, user_id: int) -> tuple[Json, str]:
    """The user's representation and ETag, as GET returns them."""
    response = await client.get(f"/api/users/{user_id}", headers=bearer(token))
    assert response.status_code == 200
    return await data_of(response), response.headers["ETag"]


async def stale_etag(client: Client, token: str, user: Json) -> tuple[str, Json, str]:
    """A tag the user had before a real change, and the user's state and tag after it."""
    _, old = await current(client, token, user["id"])
    changed = await client.patch(
        f"/api/users/{user['id']}", json={"name": "Changed"}, headers=bearer(token)
    )
    assert changed.status_code == 200
    data, tag = await current(client, token, user["id"])
    assert tag != old
    return old, data, tag


# --- ETags --------------------------------------------------------------------------------


async def test_etags_are_strong_on_every_user_response(client: Client) -> None:
    body = {"name": "Alice", "email": unique_email(), "password": PASSWORD}
    created = await client.post("/api/users", json=body)
    assert created.status_code == 201
    user = await data_of(created)
    token = await login(client, body["email"])
    path = f"/api/users/{user['id']}"
    responses = [
        created,
        await client.get(path, headers=bearer(token)),
        await client.patch(path, json={"name": "Bob"}, headers=bearer(token)),
        await client.put(
            path, json={"name": "Carol", "email": user["email"]}, headers=bearer(token)
        ),
    ]
    for response in responses:
        etag = response.headers["ETag"]
        assert not etag.startswith("W/")
        assert STRONG_ETAG.match(etag), etag
        assert len(etag) > 2
    assert created.headers["ETag"] != responses[2].headers["ETag"]
    assert responses[2].headers["ETag"] != responses[3].headers["ETag"]


async def test_etag_of_each_write_matches_a_later_get(client: Client) -> None:
    user, token = await user_with_token(client)
    path = f"/api/users/{user['id']}"
    patched = await client.patch(path, json={"name": "Bob"}, headers=bearer(token))
    assert (await current(client, token, user["id"]))[1] == patched.headers["ETag"]
    put = await client.put(
        path, json={"name": "Carol", "email": user["email"]}, headers=bearer(token)
    )
    assert (await current(client, token, user["id"]))[1] == put.headers["ETag"]


async def test_etags_differ_between_users(client: Client) -> None:
    first, token = await user_with_token(client, name="Same")
    second = await register(client, name="Same")
    assert (await current(client, token, first["id"]))[1] != (
        await current(client, token, second["id"])
    )[1]


async def test_etag_changes_after_a_real_change_only(client: Client) -> None:
    user, token = await user_with_token(client)
    path = f"/api/users/{user['id']}"
    _, original = await current(client, token, user["id"])

    for noop in ({}, {"name": user["name"]}, {"email": user["email"].upper()}, {"role": "user"}):
        response = await client.patch(path, json=noop, headers=bearer(token))
        assert response.status_code == 200
        assert response.headers["ETag"] == original
        assert (await current(client, token, user["id"]))[1] == original

    changed = await client.patch(path, json={"name": "Someone Else"}, headers=bearer(token))
    assert changed.status_code == 200
    assert changed.headers["ETag"] != original
    assert (await current(client, token, user["id"]))[1] == changed.headers["ETag"]


# --- If-None-Match on GET -----------------------------------------------------------------


async def test_if_none_match_with_the_current_etag_is_304(client: Client) -> None:
    user, token = await user_with_token(client)
    _, etag = await current(client, token, user["id"])
    response = await client.get(
        f"/api/users/{user['id']}", headers={**bearer(token), "If-None-Match": etag}
    )
    assert response.status_code == 304
    assert await response.get_data() == b""
    assert response.headers["ETag"] == etag
    assert response.headers["X-Request-ID"]


MATCHING_IF_NONE_MATCH = [
    "{etag}",
    f"{STALE}, {{etag}}",
    '{etag}, "other"',
    f'"a",{STALE},{{etag}}',
    "*",
    "W/{etag}",  # If-None-Match uses the weak comparison (RFC 9110 §13.1.2)
]


async def test_if_none_match_forms_that_match_are_304(client: Client) -> None:
    user, token = await user_with_token(client)
    _, etag = await current(client, token, user["id"])
    for form in MATCHING_IF_NONE_MATCH:
        header = form.format(etag=etag)
        response = await client.get(
            f"/api/users/{user['id']}", headers={**bearer(token), "If-None-Match": header}
        )
        assert response.status_code == 304, header
        assert await response.get_data() == b""
        assert response.headers["ETag"] == etag


async def test_if_none_match_with_a_stale_etag_is_200(client: Client) -> None:
    user, token = await user_with_token(client)
    old, data, tag = await stale_etag(client, token, user)
    for header in (old, f'{STALE}, "x"', STALE):
        response = await client.get(
            f"/api/users/{user['id']}", headers={**bearer(token), "If-None-Match": header}
        )
        assert response.status_code == 200
        assert await data_of(response) == data
        assert response.headers["ETag"] == tag


async def test_if_none_match_with_another_users_etag_is_200(client: Client) -> None:
    user, token = await user_with_token(client)
    other = await register(client, name="Other")
    _, other_tag = await current(client, token, other["id"])
    response = await client.get(
        f"/api/users/{user['id']}", headers={**bearer(token), "If-None-Match": other_tag}
    )
    assert response.status_code == 200
    assert await data_of(response) == user


async def test_if_none_match_on_a_missing_user_is_404(client: Client) -> None:
    user, token = await user_with_token(client)
    response = await client.get(
        f"/api/users/{user['id'] + 1000}", headers={**bearer(token), "If-None-Match": "*"}
    )
    await assert_error(response, 404, "NOT_FOUND")


# --- If-Match on PUT, PATCH, DELETE ---------------------------------------------------------


def write_request(method: str, user: Json) -> Json | None:
    if method == "PATCH":
        return {"name": "Written"}
    if method == "PUT":
        return {"name": "Written", "email": user["email"]}
    return None


MATCHING_IF_MATCH = ["{etag}", f"{STALE}, {{etag}}", '{etag},"x"', "*"]
FAILING_IF_MATCH = ["{old}", f'{STALE}, {{old}}, "x"', "W/{etag}", "W/{etag}, {old}", STALE]


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_if_match_that_matches_succeeds(app: Quart, client: Client, method: str) -> None:
    _, admin_token = await admin_with_token(app, client)
    for form in MATCHING_IF_MATCH:
        user, token = await user_with_token(client)
        _, etag = await current(client, token, user["id"])
        header = form.format(etag=etag)
        response = await send(
            client,
            method,
            f"/api/users/{user['id']}",
            write_request(method, user),
            {**bearer(token), "If-Match": header},
        )
        if method == "DELETE":
            assert response.status_code == 204, header
            got = await client.get(f"/api/users/{user['id']}", headers=bearer(admin_token))
            await assert_error(got, 404, "NOT_FOUND")
        else:
            assert response.status_code == 200, header
            assert (await data_of(response))["name"] == "Written"
            assert (await current(client, token, user["id"]))[0]["name"] == "Written"


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_if_match_that_does_not_match_is_412(client: Client, method: str) -> None:
    user, token = await user_with_token(client)
    old, data, etag = await stale_etag(client, token, user)
    for form in FAILING_IF_MATCH:
        header = form.format(old=old, etag=etag)
        response = await send(
            client,
            method,
            f"/api/users/{user['id']}",
            write_request(method, data),
            {**bearer(token), "If-Match": header},
        )
        assert response.status_code == 412, header
        details = await assert_error(response, 412, "PRECONDITION_FAILED")
        assert isinstance(details, dict)
        assert await current(client, token, user["id"]) == (data, etag)


async def test_precondition_failure_keeps_the_password_and_tokens(client: Client) -> None:
    user, token = await user_with_token(client)
    other_token = await login(client, user["email"])
    old, data, etag = await stale_etag(client, token, user)
    response = await client.patch(
        f"/api/users/{user['id']}",
        json={"password": "brand-new-password"},
        headers={**bearer(token), "If-Match": old},
    )
    await assert_error(response, 412, "PRECONDITION_FAILED")
    assert (await client.get("/api/profile", headers=bearer(other_token))).status_code == 200
    relogin = await client.post("/api/tokens", json={"email": user["email"], "password": PASSWORD})
    assert relogin.status_code == 201
    assert await current(client, token, user["id"]) == (data, etag)


async def test_if_match_on_a_missing_user_is_404(app: Quart, client: Client) -> None:
    _, admin_token = await admin_with_token(app, client)
    user = await register(client)
    deleted = await client.delete(f"/api/users/{user['id']}", headers=bearer(admin_token))
    assert deleted.status_code == 204
    for method in ("PUT", "PATCH", "DELETE"):
        response = await send(
            client,
            method,
            f"/api/users/{user['id']}",
            write_request(method, user),
            {**bearer(admin_token), "If-Match": "*"},
        )
        await assert_error(response, 404, "NOT_FOUND")


async def test_validation_error_wins_over_a_failed_precondition(client: Client) -> None:
    user, token = await user_with_token(client)
    old, data, etag = await stale_etag(client, token, user)
    response = await client.patch(
        f"/api/users/{user['id']}",
        json={"name": ""},
        headers={**bearer(token), "If-Match": old},
    )
    await assert_error(response, 422, "VALIDATION_ERROR")
    assert await current(client, token, user["id"]) == (data, etag)


async def test_failed_precondition_wins_over_a_conflict(client: Client) -> None:
    user, token = await user_with_token(client)
    other = await register(client, name="Other")
    old, data, etag = await stale_etag(client, token, user)
    response = await client.patch(
        f"/api/users/{user['id']}",
        json={"email": other["email"]},
        headers={**bearer(token), "If-Match": old},
    )
    await assert_error(response, 412, "PRECONDITION_FAILED")
    assert await current(client, token, user["id"]) == (data, etag)


async def test_if_match_with_the_current_etag_after_a_noop_still_matches(client: Client) -> None:
    user, token = await user_with_token(client)
    path = f"/api/users/{user['id']}"
    _, etag = await current(client, token, user["id"])
    noop = await client.put(
        path,
        json={"name": user["name"], "email": user["email"]},
        headers={**bearer(token), "If-Match": etag},
    )
    assert noop.status_code == 200
    assert noop.headers["ETag"] == etag
    # The tag is still current, so a second conditional write goes through.
    response = await client.patch(
        path, json={"name": "Next"}, headers={**bearer(token), "If-Match": etag}
    )
    assert response.status_code == 200
    # ... and now it is stale.
    again = await client.patch(
        path, json={"name": "Later"}, headers={**bearer(token), "If-Match": etag}
    )
    await assert_error(again, 412, "PRECONDITION_FAILED")
    assert (await current(client, token, user["id"]))[0]["name"] == "Next"

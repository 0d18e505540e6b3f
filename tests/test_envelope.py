"""Section 1 of the contract: envelopes, request ids, headers, routing errors, precedence."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from quart import Response

import roster.db.listing

from .factories import Account
from .helpers import (
    FIELDS,
    PASSWORD,
    Client,
    Json,
    assert_error,
    assert_json_headers,
    bearer,
    body_of,
    send,
    unique_email,
)

HEX32 = re.compile(r"[0-9a-f]{32}")
ONE_MIB = 1024 * 1024
JSON = {"Content-Type": "application/json"}
MALFORMED = b'{"name": "Bob",'  # truncated: not parseable
WRONG_TAG = '"0000000000000000000000000000dead"'


@dataclass(frozen=True)
class World:
    """What a scenario can use: a user with a token, an admin with a token."""

    client: Client
    user: Json
    token: str
    admin: Json
    admin_token: str


Headers = dict[str, str]
Scenario = Callable[[World, Headers], Awaitable[Response]]


@pytest.fixture
def world(alice: Account, admin: Account) -> World:
    return World(alice.client, alice.user, alice.token, admin.user, admin.token)


def allowed(response: Response) -> set[str]:
    return {method.strip() for method in response.headers["Allow"].split(",")}


async def read_user(world: World, user_id: int) -> Json:
    response = await world.client.get(f"/api/users/{user_id}", headers=bearer(world.admin_token))
    assert response.status_code == 200
    return await body_of(response)


# --- envelopes -------------------------------------------------------------------------------


async def test_single_object_envelope(client: Client) -> None:
    email = unique_email()
    created = await client.post(
        "/api/users", json={"name": "Alice", "email": email, "password": PASSWORD}
    )
    assert created.status_code == 201
    assert_json_headers(created)
    body = await body_of(created)
    assert set(body) == {"data", "meta"}
    assert body["meta"] == {"request_id": created.headers["X-Request-ID"]}
    data = body["data"]
    assert set(data) == FIELDS
    assert isinstance(data["id"], int)
    assert data["id"] >= 1
    assert created.headers["Location"] == f"/api/users/{data['id']}"

    token = (
        await body_of(await client.post("/api/tokens", json={"email": email, "password": PASSWORD}))
    )["data"]["token"]
    read = await client.get(f"/api/users/{data['id']}", headers=bearer(token))
    assert read.status_code == 200
    assert_json_headers(read)
    read_body = await body_of(read)
    assert set(read_body) == {"data", "meta"}
    assert read_body["data"] == data
    assert read_body["meta"] == {"request_id": read.headers["X-Request-ID"]}


async def test_list_envelope(world: World) -> None:
    response = await world.client.get("/api/users?per_page=1", headers=bearer(world.token))
    assert response.status_code == 200
    assert_json_headers(response)
    body = await body_of(response)
    assert set(body) == {"data", "meta"}
    assert isinstance(body["data"], list)
    assert [user["id"] for user in body["data"]] == [world.user["id"]]
    assert body["meta"] == {
        "request_id": response.headers["X-Request-ID"],
        "page": 1,
        "per_page": 1,
        "total": 2,
        "pages": 2,
        "next_cursor": body["meta"]["next_cursor"],
    }
    assert isinstance(body["meta"]["next_cursor"], str)


async def test_error_envelope_with_details(client: Client) -> None:
    response = await client.post(
        "/api/users", json={"name": "Alice", "email": "not-an-email", "password": PASSWORD}
    )
    details = await assert_error(response, 422, "VALIDATION_ERROR")
    assert set(details) == {"email"}


async def test_details_is_an_empty_object_when_there_is_nothing_to_add(client: Client) -> None:
    response = await client.get("/api/nowhere")
    details = await assert_error(response, 404, "NOT_FOUND")
    assert details == {}
    raw = await response.get_data(as_text=True)
    assert '"details":{}' in raw.replace(" ", "")


# --- the request id on every kind of response ------------------------------------------------


async def _ok(w: World, extra: Headers) -> Response:
    return await w.client.get("/health", headers=extra)


async def _created(w: World, extra: Headers) -> Response:
    body = {"name": "Bob", "email": unique_email(), "password": PASSWORD}
    return await w.client.post("/api/users", json=body, headers=extra)


async def _bad_request(w: World, extra: Headers) -> Response:
    return await w.client.post("/api/users", data=MALFORMED, headers={**JSON, **extra})


async def _unauthorized(w: World, extra: Headers) -> Response:
    return await w.client.get("/api/profile", headers=extra)


async def _forbidden(w: World, extra: Headers) -> Response:
    url = f"/api/users/{w.admin['id']}"
    return await w.client.patch(url, json={"name": "Mallory"}, headers={**bearer(w.token), **extra})


async def _missing_user(w: World, extra: Headers) -> Response:
    return await w.client.get("/api/users/999999", headers={**bearer(w.token), **extra})


async def _unknown_route(w: World, extra: Headers) -> Response:
    return await w.client.get("/api/nowhere", headers=extra)


async def _method_not_allowed(w: World, extra: Headers) -> Response:
    return await w.client.delete("/api/users", headers=extra)


async def _conflict(w: World, extra: Headers) -> Response:
    body = {"name": "Bob", "email": w.user["email"], "password": PASSWORD}
    return await w.client.post("/api/users", json=body, headers=extra)


async def _precondition_failed(w: World, extra: Headers) -> Response:
    headers = {**bearer(w.token), "If-Match": WRONG_TAG, **extra}
    return await w.client.patch(f"/api/users/{w.user['id']}", json={}, headers=headers)


async def _too_large(w: World, extra: Headers) -> Response:
    return await w.client.post("/api/users", data=b" " * (ONE_MIB + 1), headers={**JSON, **extra})


async def _invalid(w: World, extra: Headers) -> Response:
    return await w.client.post("/api/users", json={"name": "Bob"}, headers=extra)


async def _server_error(w: World, extra: Headers) -> Response:
    return await w.client.get("/api/users", headers={**bearer(w.token), **extra})


SCENARIOS: dict[str, tuple[int, Scenario]] = {
    "200": (200, _ok),
    "201": (201, _created),
    "400": (400, _bad_request),
    "401": (401, _unauthorized),
    "403": (403, _forbidden),
    "404-resource": (404, _missing_user),
    "404-route": (404, _unknown_route),
    "405": (405, _method_not_allowed),
    "409": (409, _conflict),
    "412": (412, _precondition_failed),
    "413": (413, _too_large),
    "422": (422, _invalid),
    "500": (500, _server_error),
}


async def _broken(*_args: object, **_kwargs: object) -> None:
    raise RuntimeError("simulated bug")


async def test_request_id_header_equals_meta_request_id_on_every_kind_of_response(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(roster.db.listing, "list_users", _broken)  # for the 500
    seen: set[str] = set()
    for name, (status, make_request) in SCENARIOS.items():
        response = await make_request(world, {})
        assert response.status_code == status, name
        assert_json_headers(response)
        request_id = response.headers["X-Request-ID"]
        assert HEX32.fullmatch(request_id), name
        assert (await body_of(response))["meta"]["request_id"] == request_id, name
        seen.add(request_id)

        client_id = f"trace-{name}.client_id"
        response = await make_request(world, {"X-Request-ID": client_id})
        assert response.status_code == status, name
        assert_json_headers(response)
        assert response.headers["X-Request-ID"] == client_id, name
        assert (await body_of(response))["meta"]["request_id"] == client_id, name
    assert len(seen) == len(SCENARIOS)  # a fresh id for every request


async def test_request_id_on_bodiless_responses(world: World) -> None:
    url = f"/api/users/{world.user['id']}"
    first = await world.client.get(url, headers=bearer(world.token))
    not_modified = await world.client.get(
        url, headers={**bearer(world.token), "If-None-Match": first.headers["ETag"]}
    )
    assert not_modified.status_code == 304
    assert HEX32.fullmatch(not_modified.headers["X-Request-ID"])
    assert not_modified.headers["X-Content-Type-Options"] == "nosniff"
    assert await not_modified.get_data() == b""

    logged_out = await world.client.delete(
        "/api/tokens/current", headers={**bearer(world.token), "X-Request-ID": "bye-1"}
    )
    assert logged_out.status_code == 204
    assert logged_out.headers["X-Request-ID"] == "bye-1"
    assert logged_out.headers["X-Content-Type-Options"] == "nosniff"
    assert await logged_out.get_data() == b""


VALID_REQUEST_IDS = [
    "a",
    "0",
    "x" * 128,
    "abc-DEF_123.xyz",
    "...",
    "---",
    "9f1c2b3a-0d4e-4f5a-8b6c-7d8e9f0a1b2c",
]
INVALID_REQUEST_IDS = [
    "x" * 129,
    "has space",
    " leading",
    "a;b",
    "a,b",
    "a/b",
    "a:b",
    "a=b",
    "tab\there",
    "abc\x7f",
    "caf\u00e9",
    "<script>",
    "id\x0bvertical",
    "x-Injected: 1",
    "abc\\r\\nX-Evil:1",  # CRLF spelled out: the test client refuses a raw one
]


async def test_valid_client_request_id_is_echoed(client: Client) -> None:
    for request_id in VALID_REQUEST_IDS:
        response = await client.get("/health", headers={"X-Request-ID": request_id})
        assert response.status_code == 200
        assert response.headers["X-Request-ID"] == request_id
        assert (await body_of(response))["meta"]["request_id"] == request_id


async def test_invalid_client_request_id_is_replaced(client: Client) -> None:
    for request_id in INVALID_REQUEST_IDS:
        for path, status in (("/health", 200), ("/api/nowhere", 404), ("/api/profile", 401)):
            response = await client.get(path, headers={"X-Request-ID": request_id})
            assert response.status_code == status
            made = response.headers["X-Request-ID"]
            assert HEX32.fullmatch(made), (request_id, made)
            assert (await body_of(response))["meta"]["request_id"] == made


async def test_empty_client_request_id_is_replaced(client: Client) -> None:
    response = await client.get("/health", headers={"X-Request-ID": ""})
    assert HEX32.fullmatch(response.headers["X-Request-ID"])
    assert (await body_of(response))["meta"]["request_id"] == response.headers["X-Request-ID"]


async def test_request_id_is_made_when_absent_and_differs_per_request(client: Client) -> None:
    first = await client.get("/health")
    second = await client.get("/health")
    ids = [first.headers["X-Request-ID"], second.headers["X-Request-ID"]]
    assert all(HEX32.fullmatch(request_id) for request_id in ids)
    assert ids[0] != ids[1]
    assert (await body_of(first))["meta"]["request_id"] == ids[0]
    assert (await body_of(second))["meta"]["request_id"] == ids[1]


# --- routing: 404, 405, OPTIONS --------------------------------------------------------------


UNKNOWN_ROUTES = [
    "/nowhere",
    "/api",
    "/api/",
    "/api/users/",
    "/api/users/abc",
    "/api/users/0",
    "/api/users/-1",
    "/api/users/1.5",
    "/api/users/1/extra",
    "/API/users",
    "/api/tokens/other",
]
USERS = {"GET", "HEAD", "OPTIONS", "POST"}
ONE_USER = {"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "PUT"}
METHODS_BY_ROUTE = {
    "/api/users": USERS,
    "/api/users/1": ONE_USER,
    "/api/users/999999": ONE_USER,
    "/api/tokens": {"GET", "HEAD", "OPTIONS", "POST"},
    "/api/tokens/current": {"DELETE", "OPTIONS"},
    "/api/tokens/others": {"DELETE", "OPTIONS"},
    "/api/tokens/7": {"DELETE", "OPTIONS"},
    "/api/users/1/tokens": {"DELETE", "GET", "HEAD", "OPTIONS"},
    "/api/profile": {"GET", "HEAD", "OPTIONS"},
    "/health": {"GET", "HEAD", "OPTIONS"},
}
NOT_ALLOWED = [
    ("DELETE", "/api/users"),
    ("PUT", "/api/users"),
    ("PATCH", "/api/users"),
    ("POST", "/api/users/1"),
    ("PUT", "/api/tokens"),
    ("GET", "/api/tokens/current"),
    ("POST", "/api/tokens/others"),
    ("GET", "/api/tokens/7"),
    ("PATCH", "/api/users/1/tokens"),
    ("POST", "/health"),
    ("DELETE", "/api/profile"),
]


async def test_unknown_route_is_json_not_found(world: World) -> None:
    # With a valid token, and without one: routing is decided before authentication.
    for path in UNKNOWN_ROUTES:
        for headers in (bearer(world.token), {}):
            response = await world.client.get(path, headers=headers)
            details = await assert_error(response, 404, "NOT_FOUND")
            assert details == {}, path
            assert b"<html" not in (await response.get_data()).lower()


async def test_method_not_allowed_is_json_with_allow(client: Client) -> None:
    for method, path in NOT_ALLOWED:
        response = await send(client, method, path)
        details = await assert_error(response, 405, "METHOD_NOT_ALLOWED")
        assert details == {}
        assert allowed(response) == METHODS_BY_ROUTE[path], (method, path)
        assert method not in allowed(response)


async def test_options_on_an_existing_route(client: Client) -> None:
    for path, methods in METHODS_BY_ROUTE.items():
        response = await client.options(path)
        assert response.status_code == 204, path
        assert allowed(response) == methods, path
        assert await response.get_data() == b""
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert HEX32.fullmatch(response.headers["X-Request-ID"])


async def test_options_on_an_unknown_route_is_not_found(client: Client) -> None:
    await assert_error(await client.options("/api/nowhere"), 404, "NOT_FOUND")


# --- 500 -------------------------------------------------------------------------------------


async def test_a_bug_is_a_generic_json_500(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "kaboom: /srv/secret/path.py line 42"

    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError(secret)

    monkeypatch.setattr(roster.db.listing, "list_users", broken)
    response = await world.client.get(
        "/api/users", headers={**bearer(world.token), "X-Request-ID": "bug-1"}
    )
    details = await assert_error(response, 500, "SERVER_ERROR")
    assert details == {}
    assert response.headers["X-Request-ID"] == "bug-1"
    raw = await response.get_data(as_text=True)
    for leak in ("kaboom", "secret", "Traceback", "RuntimeError", ".py", "File "):
        assert leak not in raw
    message = (await body_of(response))["error"]["message"]
    assert "kaboom" not in message

    # The service keeps serving.
    assert (await world.client.get("/health")).status_code == 200


# --- precedence: 413; 404/405 routing; 401; 404 resource; 403; 400; 422; 412; 409 -------------


async def test_413_before_unknown_route(client: Client) -> None:
    response = await client.post("/api/nowhere", data=b"x" * (ONE_MIB + 1), headers=JSON)
    await assert_error(response, 413, "PAYLOAD_TOO_LARGE")


async def test_413_before_method_not_allowed(client: Client) -> None:
    response = await client.delete("/api/users", data=b"x" * (ONE_MIB + 1), headers=JSON)
    await assert_error(response, 413, "PAYLOAD_TOO_LARGE")


async def test_413_whatever_the_method(client: Client) -> None:
    # A body over the limit is refused even where the method takes none (GET).
    for path in ("/api/nowhere", "/health", "/api/users"):
        body = b"x" * (ONE_MIB + 1)
        headers = {**JSON, "Content-Length": str(len(body))}
        response = await client.get(path, data=body, headers=headers)
        await assert_error(response, 413, "PAYLOAD_TOO_LARGE")


async def test_413_before_401(world: World) -> None:
    url = f"/api/users/{world.user['id']}"
    response = await world.client.patch(url, data=b"x" * (ONE_MIB + 1), headers=JSON)
    await assert_error(response, 413, "PAYLOAD_TOO_LARGE")


async def test_unknown_route_before_401(client: Client) -> None:
    await assert_error(await client.patch("/api/users/abc", json={}), 404, "NOT_FOUND")


async def test_method_not_allowed_before_401(client: Client) -> None:
    response = await client.put("/api/users", json={})
    await assert_error(response, 405, "METHOD_NOT_ALLOWED")


async def test_401_before_missing_user(client: Client) -> None:
    response = await client.patch("/api/users/999999", json={"name": "Bob"})
    await assert_error(response, 401, "UNAUTHORIZED")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_401_before_400(world: World) -> None:
    url = f"/api/users/{world.user['id']}"
    response = await world.client.patch(url, data=MALFORMED, headers=JSON)
    await assert_error(response, 401, "UNAUTHORIZED")
    text_body = await world.client.patch(
        url, data=b"name=x", headers={"Content-Type": "text/plain"}
    )
    await assert_error(text_body, 401, "UNAUTHORIZED")


async def test_missing_user_before_400(world: World) -> None:
    headers = {**bearer(world.token), **JSON}
    response = await world.client.patch("/api/users/999999", data=MALFORMED, headers=headers)
    await assert_error(response, 404, "NOT_FOUND")
    # And before 403: the record a non-admin may not touch does not exist.
    response = await world.client.put(
        "/api/users/999999", json={"name": 1}, headers=bearer(world.token)
    )
    await assert_error(response, 404, "NOT_FOUND")


async def test_403_before_400(world: World) -> None:
    before = await read_user(world, world.admin["id"])
    headers = {**bearer(world.token), **JSON}
    url = f"/api/users/{world.admin['id']}"
    for method in ("PUT", "PATCH"):
        response = await send(world.client, method, url, headers=headers, data=MALFORMED)
        await assert_error(response, 403, "FORBIDDEN")
    assert (await read_user(world, world.admin["id"]))["data"] == before["data"]


async def test_403_before_422(world: World) -> None:
    url = f"/api/users/{world.user['id']}"
    # Setting a role as a non-admin is forbidden, whatever else is wrong with the body.
    response = await world.client.patch(
        url, json={"role": "admin", "name": ""}, headers=bearer(world.token)
    )
    await assert_error(response, 403, "FORBIDDEN")
    other = await world.client.patch(
        f"/api/users/{world.admin['id']}", json={"name": 42}, headers=bearer(world.token)
    )
    await assert_error(other, 403, "FORBIDDEN")
    assert (await read_user(world, world.user["id"]))["data"] == world.user


async def test_400_before_412(world: World) -> None:
    headers = {**bearer(world.token), **JSON, "If-Match": WRONG_TAG}
    url = f"/api/users/{world.user['id']}"
    response = await world.client.patch(url, data=MALFORMED, headers=headers)
    details = await assert_error(response, 400, "BAD_REQUEST")
    assert "body" in details


async def test_400_before_422(world: World) -> None:
    url = f"/api/users/{world.user['id']}"
    # Not JSON by its content type, even though the body would fail validation as JSON.
    response = await world.client.patch(
        url, data=b'{"name": 42}', headers={**bearer(world.token), "Content-Type": "text/plain"}
    )
    await assert_error(response, 400, "BAD_REQUEST")


async def test_422_before_412(world: World) -> None:
    headers = {**bearer(world.token), "If-Match": WRONG_TAG}
    url = f"/api/users/{world.user['id']}"
    response = await world.client.patch(url, json={"email": "nope"}, headers=headers)
    details = await assert_error(response, 422, "VALIDATION_ERROR")
    assert set(details) == {"email"}


async def test_412_before_409(world: World) -> None:
    headers = {**bearer(world.token), "If-Match": WRONG_TAG}
    url = f"/api/users/{world.user['id']}"
    response = await world.client.patch(url, json={"email": world.admin["email"]}, headers=headers)
    details = await assert_error(response, 412, "PRECONDITION_FAILED")
    assert "If-Match" in details
    assert (await read_user(world, world.user["id"]))["data"] == world.user


async def test_422_before_409(world: World) -> None:
    response = await world.client.post(
        "/api/users", json={"name": "", "email": world.user["email"], "password": PASSWORD}
    )
    details = await assert_error(response, 422, "VALIDATION_ERROR")
    assert set(details) == {"name"}


# --- content types and query parameters ------------------------------------------------------


JSON_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/json;charset=UTF-8",
    "application/vnd.roster+json",
    "application/vnd.roster+json; charset=utf-8",
]
NOT_JSON_TYPES = [
    None,
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "text/json",
    "application/xml",
    "application/jsonp",
]


def registration(email: str) -> bytes:
    return f'{{"name": "Alice", "email": "{email}", "password": "{PASSWORD}"}}'.encode()


async def test_json_content_types_are_accepted(world: World) -> None:
    for content_type in JSON_TYPES:
        email = unique_email()
        response = await world.client.post(
            "/api/users", data=registration(email), headers={"Content-Type": content_type}
        )
        assert response.status_code == 201, content_type
        assert (await body_of(response))["data"]["email"] == email

        name = f"Patched {len(content_type)}"
        patched = await world.client.patch(
            f"/api/users/{world.user['id']}",
            data=f'{{"name": "{name}"}}'.encode(),
            headers={**bearer(world.token), "Content-Type": content_type},
        )
        assert patched.status_code == 200, content_type
        assert (await read_user(world, world.user["id"]))["data"]["name"] == name


async def test_other_content_types_are_bad_requests(world: World) -> None:
    for content_type in NOT_JSON_TYPES:
        email = unique_email()
        headers = {} if content_type is None else {"Content-Type": content_type}
        response = await world.client.post("/api/users", data=registration(email), headers=headers)
        await assert_error(response, 400, "BAD_REQUEST")
        # Nothing was stored.
        listed = await world.client.get(f"/api/users?q={email}", headers=bearer(world.token))
        assert (await body_of(listed))["meta"]["total"] == 0, content_type

        patched = await world.client.patch(
            f"/api/users/{world.user['id']}",
            data=b'{"name": "Changed"}',
            headers={**bearer(world.token), **headers},
        )
        await assert_error(patched, 400, "BAD_REQUEST")
        assert (await read_user(world, world.user["id"]))["data"]["name"] == world.user["name"]

        login = await world.client.post(
            "/api/tokens",
            data=f'{{"email": "{world.user["email"]}", "password": "{PASSWORD}"}}'.encode(),
            headers=headers,
        )
        await assert_error(login, 400, "BAD_REQUEST")


async def test_unknown_query_parameters_are_ignored(world: World) -> None:
    listed = await world.client.get(
        "/api/users?page=1&debug=1&per_page=5&sort=id&admin=true", headers=bearer(world.token)
    )
    assert listed.status_code == 200
    assert (await body_of(listed))["meta"]["per_page"] == 5
    health = await world.client.get("/health?verbose=yes")
    assert health.status_code == 200
    created = await world.client.post(
        "/api/users?role=admin",
        json={"name": "Q", "email": unique_email(), "password": PASSWORD},
    )
    assert created.status_code == 201
    assert (await body_of(created))["data"]["role"] == "user"
    profile = await world.client.get("/api/profile?x=1", headers=bearer(world.token))
    assert (await body_of(profile))["data"] == world.user

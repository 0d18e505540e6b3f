"""RFC 9457 problem details on request (docs/API.md §1, v1.1): an `Accept` preferring
`application/problem+json` turns every error into the same problem object."""

from __future__ import annotations

import pytest
from quart.wrappers import Response
from sqlalchemy import exc as sa_exc

import roster.db.listing

from .factories import Account
from .helpers import PASSWORD, Client, Json, send, unique_email

PROBLEM = {"Accept": "application/problem+json"}
FIELDS = {"type", "title", "status", "detail", "code", "details", "request_id"}


async def assert_problem(response: Response, status: int, code: str, title: str) -> Json:
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Accept" in response.headers["Vary"]
    body: Json = await response.get_json()
    assert set(body) == FIELDS
    assert body["type"] == "about:blank"
    assert body["title"] == title
    assert body["status"] == status
    assert body["code"] == code
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


@pytest.mark.parametrize(
    ("accept", "problems"),
    [
        ("application/problem+json", True),
        ("application/problem+json, application/json;q=0.9", True),
        ("application/json;q=0.5, application/problem+json", True),
        ("application/*;q=0.2, application/problem+json;q=0.3", True),
        ("*/*;q=0.1, application/problem+json", True),
        ("application/json, application/problem+json", False),  # a tie is not a preference
        ("application/problem+json;q=0.5, application/json", False),
        ("application/json", False),
        ("*/*", False),
        ("application/problem+json;q=0", False),
        ("text/html", False),
        ("", False),
    ],
)
async def test_accept_is_negotiated_by_q_value(client: Client, accept: str, problems: bool) -> None:
    response = await client.get("/no/such/route", headers={"Accept": accept})
    assert response.status_code == 404
    expected = "application/problem+json" if problems else "application/json"
    assert response.headers["Content-Type"] == expected


async def test_every_error_path_gives_the_problem_object(
    client: Client, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    routing = await send(client, "GET", "/no/such/route", headers=PROBLEM)
    await assert_problem(routing, 404, "NOT_FOUND", "Not Found")

    method = await send(client, "DELETE", "/health", headers=PROBLEM)
    await assert_problem(method, 405, "METHOD_NOT_ALLOWED", "Method Not Allowed")
    assert "GET" in method.headers["Allow"]

    big = await send(client, "POST", "/api/users", data=b"x" * (1024 * 1024 + 1),
                     headers={**PROBLEM, "Content-Type": "application/json"})  # fmt: skip
    await assert_problem(big, 413, "PAYLOAD_TOO_LARGE", "Content Too Large")

    malformed = await send(client, "POST", "/api/users", data=b"{",
                           headers={**PROBLEM, "Content-Type": "application/json"})  # fmt: skip
    await assert_problem(malformed, 400, "BAD_REQUEST", "Bad Request")

    invalid = await send(client, "POST", "/api/users", {"name": ""}, headers=PROBLEM)
    body = await assert_problem(invalid, 422, "VALIDATION_ERROR", "Unprocessable Content")
    assert "name" in body["details"]
    assert body["detail"] == "Invalid input"

    anonymous = await send(client, "GET", "/api/profile", headers=PROBLEM)
    await assert_problem(anonymous, 401, "UNAUTHORIZED", "Unauthorized")
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"

    other = await send(
        client, "DELETE", "/api/users/999999", headers={**PROBLEM, **alice.headers()}
    )
    await assert_problem(other, 404, "NOT_FOUND", "Not Found")

    for _ in range(10):
        await send(client, "POST", "/api/tokens", {"email": alice.email, "password": "wrong-1"})
    limited = await send(
        client, "POST", "/api/tokens", {"email": alice.email, "password": PASSWORD}, PROBLEM
    )
    body = await assert_problem(limited, 429, "RATE_LIMITED", "Too Many Requests")
    assert limited.headers["Retry-After"] in body["details"]["Retry-After"]

    async def database_gone(*_: object, **__: object) -> None:
        raise sa_exc.OperationalError("SELECT 1", {}, Exception("unable to open database file"))

    async def bug(*_: object, **__: object) -> None:
        raise ZeroDivisionError

    monkeypatch.setattr(roster.db.listing, "list_users", database_gone)
    gone = await send(client, "GET", "/api/users", headers={**PROBLEM, **alice.headers()})
    await assert_problem(gone, 503, "SERVICE_UNAVAILABLE", "Service Unavailable")
    assert gone.headers["Retry-After"]
    monkeypatch.setattr(roster.db.listing, "list_users", bug)
    broken = await send(client, "GET", "/api/users", headers={**PROBLEM, **alice.headers()})
    body = await assert_problem(broken, 500, "SERVER_ERROR", "Internal Server Error")
    assert body["details"] == {}


async def test_successes_are_unchanged(client: Client) -> None:
    body = {"name": "P", "email": unique_email(), "password": PASSWORD}
    response = await send(client, "POST", "/api/users", body, headers=PROBLEM)
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json"
    assert set(await response.get_json()) == {"data", "meta"}

"""Section 2 of the contract: bearer tokens, logging in and out, who am I."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from quart import Quart, Response
from sqlalchemy import func, select, update

from roster.db.models import Token
from roster.settings import Settings

from .factories import Account, user_with_token
from .helpers import (
    FIELDS,
    PASSWORD,
    Argon2Spy,
    Client,
    Json,
    all_cells,
    assert_error,
    bearer,
    database_session,
    login,
    parse_timestamp,
    register,
    runtime_of,
    serving,
    unique_email,
)

URL_SAFE_256_BITS = re.compile(r"^[A-Za-z0-9_-]{43,}$")
BAD_CREDENTIALS = "Invalid email or password"
INVALID_TOKEN_CHALLENGE = 'Bearer error="invalid_token"'
PROTECTED = [("GET", "/api/profile"), ("DELETE", "/api/tokens/current"), ("GET", "/api/users")]


def sha256_hex(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def token_rows(app: Quart, user_id: int | None = None) -> list[Token]:
    async with database_session(app) as session:
        statement = select(Token).order_by(Token.id)
        if user_id is not None:
            statement = statement.where(Token.user_id == user_id)
        return list((await session.scalars(statement)).all())


async def expire(app: Quart, token: str) -> None:
    async with database_session(app) as session:
        result = await session.execute(
            update(Token)
            .where(Token.token_hash == sha256_hex(token))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()
    assert result.rowcount == 1  # type: ignore[attr-defined]


async def call(client: Client, method: str, path: str, headers: dict[str, str]) -> Response:
    if method == "DELETE":
        return await client.delete(path, headers=headers)
    assert method == "GET"
    return await client.get(path, headers=headers)


async def assert_invalid_token(response: Response) -> None:
    await assert_error(response, 401, "UNAUTHORIZED")
    assert response.headers["WWW-Authenticate"] == INVALID_TOKEN_CHALLENGE
    body = await response.get_json()
    assert body["error"] == {"code": "UNAUTHORIZED", "message": "Invalid token", "details": {}}


# --- POST /api/tokens ----------------------------------------------------------------------


async def test_login_returns_a_bearer_token(client: Client) -> None:
    user = await register(client)
    response = await client.post("/api/tokens", json={"email": user["email"], "password": PASSWORD})
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Type"] == "application/json"
    body = await response.get_json()
    assert set(body["data"]) == {"id", "token", "token_type", "expires_at"}
    assert body["data"]["token_type"] == "Bearer"
    assert body["meta"]["request_id"] == response.headers["X-Request-ID"]
    token = body["data"]["token"]
    assert URL_SAFE_256_BITS.match(token), token
    # Opaque: nothing of the user can be read out of it.
    assert user["email"].split("@")[0] not in token
    profile = await client.get("/api/profile", headers=bearer(token))
    assert profile.status_code == 200


async def test_tokens_are_random(client: Client) -> None:
    user = await register(client)
    tokens = {await login(client, user["email"]) for _ in range(5)}
    assert len(tokens) == 5
    assert all(URL_SAFE_256_BITS.match(token) for token in tokens)


async def test_default_lifetime_is_a_day(client: Client) -> None:
    user = await register(client)
    before = datetime.now(UTC)
    response = await client.post("/api/tokens", json={"email": user["email"], "password": PASSWORD})
    after = datetime.now(UTC)
    expires_at = parse_timestamp((await response.get_json())["data"]["expires_at"])
    assert before + timedelta(seconds=86400) <= expires_at <= after + timedelta(seconds=86400)


@pytest.mark.parametrize("ttl", [60, 3600])
async def test_lifetime_follows_token_ttl_seconds(settings: Settings, ttl: int) -> None:
    async with serving(settings, token_ttl_seconds=ttl) as app:
        client = app.test_client()
        user = await register(client)
        before = datetime.now(UTC)
        response = await client.post(
            "/api/tokens", json={"email": user["email"], "password": PASSWORD}
        )
        after = datetime.now(UTC)
        assert response.status_code == 201
        expires_at = parse_timestamp((await response.get_json())["data"]["expires_at"])
        assert before + timedelta(seconds=ttl) <= expires_at <= after + timedelta(seconds=ttl)
        # What is stored is what the client was told.
        (row,) = await token_rows(app, user["id"])
        assert row.expires_at.astimezone(UTC) == expires_at


async def test_email_is_matched_trimmed_and_lower_cased(client: Client) -> None:
    email = unique_email()
    await register(client, email=email)
    token = await login(client, f"  {email.upper()}\t")
    profile = await client.get("/api/profile", headers=bearer(token))
    assert (await profile.get_json())["data"]["email"] == email


async def test_wrong_password_and_unknown_email_look_the_same(app: Quart, client: Client) -> None:
    user = await register(client)
    wrong = await client.post(
        "/api/tokens", json={"email": user["email"], "password": "not-the-password"}
    )
    unknown = await client.post(
        "/api/tokens", json={"email": unique_email("nobody"), "password": PASSWORD}
    )
    assert wrong.status_code == unknown.status_code == 401
    wrong_body, unknown_body = await wrong.get_json(), await unknown.get_json()
    assert wrong_body["error"] == unknown_body["error"]
    assert wrong_body["error"] == {
        "code": "UNAUTHORIZED",
        "message": BAD_CREDENTIALS,
        "details": {},
    }
    assert wrong.headers.get("WWW-Authenticate") == unknown.headers.get("WWW-Authenticate")
    assert await token_rows(app) == []


async def test_failed_login_issues_no_token(app: Quart, client: Client) -> None:
    user = await register(client)
    response = await client.post(
        "/api/tokens", json={"email": user["email"], "password": PASSWORD.upper()}
    )
    assert response.status_code == 401
    assert "token" not in await response.get_data(as_text=True)
    assert await token_rows(app) == []


def parameters(password_hash: str) -> str:
    """`$argon2id$v=19$m=1024,t=1,p=1` of a PHC string: everything but salt and digest."""
    return "$".join(password_hash.split("$")[:4])


async def test_unknown_email_still_verifies_a_password(
    app: Quart, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await register(client)
    spy = Argon2Spy(monkeypatch)

    wrong = await client.post("/api/tokens", json={"email": user["email"], "password": "x" * 9})
    assert wrong.status_code == 401
    assert len(spy.verified) == 1
    real_hash, sent = spy.verified[0]
    assert sent == "x" * 9

    for attempt in range(2):
        spy.verified.clear()
        unknown = await client.post(
            "/api/tokens", json={"email": unique_email("ghost"), "password": f"y{attempt}" * 5}
        )
        assert unknown.status_code == 401
        # One full argon2 verification of the submitted password, at the same cost.
        assert len(spy.verified) == 1
        dummy_hash, sent = spy.verified[0]
        assert sent == f"y{attempt}" * 5
        assert parameters(dummy_hash) == parameters(real_hash)


async def test_the_hash_unknown_emails_are_checked_against_is_made_at_start(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Made lazily, it made the first unknown-email login slower than the rest: a signal."""
    spy = Argon2Spy(monkeypatch)
    async with serving(settings) as app:
        assert len(spy.hashed) == 1  # made while starting
        spy.clear()
        unknown = {"email": unique_email("ghost"), "password": PASSWORD}
        response = await app.test_client().post("/api/tokens", json=unknown)
        assert response.status_code == 401
    assert spy.hashed == []
    assert len(spy.verified) == 1


async def test_login_verifies_through_the_runtime_hasher(
    app: Quart, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`Passwords.verify` / `verify_nobody` are what each path awaits (so off the loop)."""
    passwords = runtime_of(app).passwords
    calls: list[str] = []
    verify, verify_nobody = passwords.verify, passwords.verify_nobody

    async def spy_verify(password_hash: str, password: str) -> bool:
        calls.append("verify")
        return await verify(password_hash, password)

    async def spy_nobody(password: str) -> None:
        calls.append("verify_nobody")
        await verify_nobody(password)

    monkeypatch.setattr(passwords, "verify", spy_verify)
    monkeypatch.setattr(passwords, "verify_nobody", spy_nobody)
    user = await register(client)
    await client.post("/api/tokens", json={"email": user["email"], "password": "wrong-one!"})
    assert calls == ["verify"]
    calls.clear()
    await client.post("/api/tokens", json={"email": unique_email(), "password": "wrong-one!"})
    assert calls[0] == "verify_nobody"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": PASSWORD}, "email"),
        ({"email": "a@example.com"}, "password"),
        ({"email": 42, "password": PASSWORD}, "email"),
        ({"email": "a@example.com", "password": ["x"]}, "password"),
        ({"email": None, "password": PASSWORD}, "email"),
        ({"email": "a@example.com", "password": None}, "password"),
        ({"email": "a@example.com", "password": PASSWORD, "remember": True}, "remember"),
    ],
)
async def test_login_body_is_validated(client: Client, body: Json, field: str) -> None:
    response = await client.post("/api/tokens", json=body)
    assert response.status_code == 422
    error = (await response.get_json())["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"]


@pytest.mark.parametrize("body", [[], "a@example.com", 1, None])
async def test_login_body_must_be_an_object(client: Client, body: Any) -> None:
    response = await client.post("/api/tokens", json=body)
    assert response.status_code == 422
    assert (await response.get_json())["error"]["code"] == "VALIDATION_ERROR"


async def test_unknown_field_is_rejected_even_with_good_credentials(client: Client) -> None:
    user = await register(client)
    body = {"email": user["email"], "password": PASSWORD, "role": "admin"}
    response = await client.post("/api/tokens", json=body)
    assert response.status_code == 422
    assert "role" in (await response.get_json())["error"]["details"]


# --- storage -------------------------------------------------------------------------------


async def test_tokens_are_stored_only_as_sha256(app: Quart, client: Client) -> None:
    user, token = await user_with_token(client)
    second = await login(client, user["email"])
    rows = await token_rows(app, user["id"])
    assert sorted(row.token_hash for row in rows) == sorted([sha256_hex(token), sha256_hex(second)])
    cells = await all_cells(app)
    assert sha256_hex(token) in cells  # the scan does see the tokens table
    for raw in (token, second):
        assert not any(raw in cell for cell in cells)


# --- 401 rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_no_token(client: Client, method: str, path: str) -> None:
    response = await call(client, method, path, {})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    body = await response.get_json()
    assert body["error"] == {"code": "UNAUTHORIZED", "message": "Token required", "details": {}}
    assert body["meta"]["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Basic abc", "Bearer a b", "Token abc"])
async def test_malformed_authorization(client: Client, method: str, path: str, header: str) -> None:
    await assert_invalid_token(await call(client, method, path, {"Authorization": header}))


async def test_malformed_header_around_a_valid_token(client: Client) -> None:
    _, token = await user_with_token(client)
    for header in (f"Basic {token}", f"Bearer {token} extra", token):
        await assert_invalid_token(
            await client.get("/api/profile", headers={"Authorization": header})
        )


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_unknown_token(client: Client, method: str, path: str) -> None:
    await user_with_token(client)
    headers = bearer("A" * 43)
    await assert_invalid_token(await call(client, method, path, headers))


async def test_token_hash_is_not_a_token(app: Quart, client: Client) -> None:
    _, token = await user_with_token(client)
    await assert_invalid_token(await client.get("/api/profile", headers=bearer(sha256_hex(token))))


async def test_expired_token(app: Quart, client: Client) -> None:
    user, token = await user_with_token(client)
    other = await login(client, user["email"])
    await expire(app, token)
    for method, path in PROTECTED:
        await assert_invalid_token(await call(client, method, path, bearer(token)))
    # Only that token expired.
    assert (await client.get("/api/profile", headers=bearer(other))).status_code == 200


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
async def test_scheme_is_case_insensitive(client: Client, scheme: str) -> None:
    user, token = await user_with_token(client)
    response = await client.get("/api/profile", headers={"Authorization": f"{scheme} {token}"})
    assert response.status_code == 200
    assert (await response.get_json())["data"]["id"] == user["id"]


# --- DELETE /api/tokens/current --------------------------------------------------------------


async def test_logout_revokes_only_the_presenting_token(app: Quart, client: Client) -> None:
    user, token = await user_with_token(client)
    other = await login(client, user["email"])
    response = await client.delete("/api/tokens/current", headers=bearer(token))
    assert response.status_code == 204
    assert await response.get_data() == b""
    for method, path in PROTECTED:
        await assert_invalid_token(await call(client, method, path, bearer(token)))
    profile = await client.get("/api/profile", headers=bearer(other))
    assert profile.status_code == 200
    assert (await profile.get_json())["data"] == user
    rows = await token_rows(app, user["id"])
    assert [row.token_hash for row in rows] == [sha256_hex(other)]


async def test_logout_does_not_touch_other_users(client: Client) -> None:
    _, alice = await user_with_token(client, name="Alice")
    bob_user, bob = await user_with_token(client, name="Bob")
    assert (await client.delete("/api/tokens/current", headers=bearer(alice))).status_code == 204
    profile = await client.get("/api/profile", headers=bearer(bob))
    assert (await profile.get_json())["data"]["id"] == bob_user["id"]


async def test_logged_out_user_can_log_in_again(client: Client) -> None:
    user, token = await user_with_token(client)
    await client.delete("/api/tokens/current", headers=bearer(token))
    fresh = await login(client, user["email"])
    assert fresh != token
    assert (await client.get("/api/profile", headers=bearer(fresh))).status_code == 200


# --- GET /api/profile ----------------------------------------------------------------------


async def test_profile_is_the_token_owner(client: Client) -> None:
    alice, alice_token = await user_with_token(client, name="Alice")
    bob, bob_token = await user_with_token(client, name="Bob")
    for user, token in ((alice, alice_token), (bob, bob_token)):
        response = await client.get("/api/profile", headers=bearer(token))
        assert response.status_code == 200
        body = await response.get_json()
        assert body["data"] == user
        assert set(body["data"]) == FIELDS
        assert body["data"]["role"] == "user"


async def test_a_user_may_hold_many_tokens(app: Quart, client: Client) -> None:
    user, first = await user_with_token(client)
    tokens = [first] + [await login(client, user["email"]) for _ in range(4)]
    assert len(set(tokens)) == 5
    for token in tokens:
        response = await client.get("/api/profile", headers=bearer(token))
        assert (await response.get_json())["data"]["id"] == user["id"]
    async with database_session(app) as session:
        stored = await session.scalar(
            select(func.count()).select_from(Token).where(Token.user_id == user["id"])
        )
    assert stored == 5


async def test_answers_to_authenticated_requests_are_private_and_revalidated(
    client: Client, alice: Account
) -> None:
    """A browser or a proxy never serves one user's answer to another from its cache."""
    for path in (alice.url, "/api/profile", "/api/users", "/api/tokens", "/api/users/999999"):
        response = await client.get(path, headers=alice.headers())
        assert response.headers.getlist("Cache-Control") == ["private, no-cache"], path
    public = await client.get("/health")
    assert "Cache-Control" not in public.headers
    token = await client.post(
        "/api/tokens", json={"email": alice.email, "password": alice.password}
    )
    assert token.headers.getlist("Cache-Control") == ["no-store"]  # the handler's, alone

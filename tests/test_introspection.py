"""Token introspection (RFC 7662, docs/API.md §2): what a gateway learns of a session token or
an API key, in either body format, and through an independent RFC 7662 client (authlib)."""

from __future__ import annotations

from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from quart import Quart
from sqlalchemy import select, update

from roster.db.audit import CLI
from roster.db.connect import open_database
from roster.db.models import Token
from roster.domain.passwords import Passwords
from roster.domain.users import create_user
from roster.settings import Settings
from roster.testing.plugin import TEST_HASHING

from .factories import Account, Accounts
from .helpers import (
    PASSWORD,
    Client,
    assert_error,
    bearer,
    database_session,
    runtime_of,
    unique_email,
)
from .server import login, register, run_server

PATH = "/api/tokens/introspect"
INACTIVE = {"active": False}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def introspect(client: Client, caller: str, token: str, form: bool = True) -> Any:
    if form:
        response = await client.post(PATH, form={"token": token}, headers=bearer(caller))
    else:
        response = await client.post(PATH, json={"token": token}, headers=bearer(caller))
    assert response.status_code == 200, await response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    return await response.get_json()


@pytest.mark.parametrize("form", [True, False], ids=["form", "json"])
async def test_an_admin_sees_what_a_session_token_is(
    app: Quart, client: Client, alice: Account, admin: Account, form: bool
) -> None:
    answer = await introspect(client, admin.token, alice.token, form)
    assert set(answer) == {
        "active",
        "token_type",
        "sub",
        "username",
        "iat",
        "exp",
        "roster_kind",
        "roster_role",
        "roster_credential_id",
    }
    assert answer["active"] is True
    assert answer["token_type"] == "Bearer"
    assert (answer["sub"], answer["username"]) == (str(alice.id), alice.email)
    assert (answer["roster_kind"], answer["roster_role"]) == ("session", "user")
    sessions = await client.get("/api/tokens", headers=alice.headers())
    [session] = (await sessions.get_json())["data"]
    assert answer["roster_credential_id"] == session["id"]
    assert abs(answer["iat"] - datetime.now(UTC).timestamp()) < 60
    assert answer["exp"] - answer["iat"] == runtime_of(app).settings.token_ttl_seconds


async def test_a_key_with_the_scope_sees_what_a_key_is(
    client: Client, accounts: Accounts, alice: Account, admin: Account
) -> None:
    gateway = await accounts.key(admin, "tokens:introspect")
    job = await accounts.key(alice, "users:read", "profile:read")
    answer = await introspect(client, gateway, job)
    assert answer["active"] is True
    assert answer["roster_kind"] == "key"
    assert answer["scope"] == "users:read profile:read"
    assert answer["sub"] == str(alice.id)
    assert answer["exp"] - answer["iat"] == int(timedelta(days=90).total_seconds())


async def test_every_inactive_credential_is_active_false_and_nothing_else(
    app: Quart, client: Client, accounts: Accounts, admin: Account
) -> None:
    alice, bob, dora = [await accounts.user(name) for name in ("Alice", "Bob", "Dora")]
    expired = await accounts.key(alice)
    async with database_session(app) as session:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await session.execute(update(Token).where(Token.user_id == bob.id).values(expires_at=past))
        await session.commit()
    logged_out = dora.token
    await client.delete("/api/tokens/current", headers=dora.headers())
    disabled_key = await accounts.key(admin, "users:read")
    other_admin = await accounts.admin("Other")
    await client.patch(admin.url, json={"status": "disabled"}, headers=other_admin.headers())
    for token in (
        "x" * 43,
        "rk_" + "x" * 43,
        bob.token,  # expired
        logged_out,
        disabled_key,  # its owner disabled
    ):
        assert await introspect(client, other_admin.token, token) == INACTIVE
    assert (await introspect(client, other_admin.token, expired))["active"] is True


async def test_introspecting_is_not_a_use(
    app: Quart, client: Client, alice: Account, admin: Account
) -> None:
    async def last_used() -> datetime | None:
        async with database_session(app) as session:
            return await session.scalar(select(Token.last_used_at).where(Token.user_id == alice.id))

    before = await last_used()
    await introspect(client, admin.token, alice.token)
    await runtime_of(app).touches.flush()
    assert await last_used() == before


async def test_the_document_offers_both_bodies(client: Client) -> None:
    document = await (await client.get("/openapi.json")).get_json()
    content = document["paths"][PATH]["post"]["requestBody"]["content"]
    assert set(content) == {"application/json", "application/x-www-form-urlencoded"}
    assert "200" in document["paths"][PATH]["post"]["responses"]


async def test_who_may_introspect(
    client: Client, accounts: Accounts, alice: Account, admin: Account
) -> None:
    response = await client.post(PATH, form={"token": alice.token})
    await assert_error(response, 401, "UNAUTHORIZED")
    response = await client.post(PATH, form={"token": admin.token}, headers=alice.headers())
    await assert_error(response, 403, "FORBIDDEN")
    reader = await accounts.key(admin, "users:read")
    response = await client.post(PATH, form={"token": alice.token}, headers=bearer(reader))
    await assert_error(response, 403, "INSUFFICIENT_SCOPE")
    assert 'scope="tokens:introspect"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"form": {}}, 422),
        ({"form": {"token": ""}}, 422),
        ({"data": "token=a&token=b", "headers": FORM}, 422),  # RFC 7662: once
        ({"form": {"token": "x" * 513}}, 422),
        ({"json": {"token": 42}}, 422),
        ({"json": ["token"]}, 422),
        ({"json": {"token": "x", "extra": 1}}, 422),
        ({"data": "token=x", "headers": {"Content-Type": "text/plain"}}, 400),
        ({"data": "{not json", "headers": {"Content-Type": "application/json"}}, 400),
        ({"data": "token=" + "x" * (1024 * 1024), "headers": FORM}, 413),
        ({"data": "token=abc", "headers": {"Content-Type": "application/json"}}, 400),
        ({"data": '{"token": "abc"}', "headers": FORM}, 422),  # a form with no `token`
    ],
    ids=[
        "no-token",
        "empty",
        "twice",
        "too-long",
        "not-a-string",
        "not-an-object",
        "unknown-field",
        "plain-text",
        "broken-json",
        "a-mebibyte",
        "a-form-sent-as-json",
        "json-sent-as-a-form",
    ],
)
async def test_a_bad_introspection_request_is_an_enveloped_4xx(
    client: Client, admin: Account, kwargs: dict[str, Any], status: int
) -> None:
    headers = {**kwargs.pop("headers", {}), **admin.headers()}
    response = await client.post(PATH, headers=headers, **kwargs)
    code = {400: "BAD_REQUEST", 413: "PAYLOAD_TOO_LARGE", 422: "VALIDATION_ERROR"}[status]
    await assert_error(response, status, code)


class BearerAuth(httpx2.Auth):
    """How a gateway authenticates to Roster's introspection: its own key, as a bearer."""

    def __init__(self, key: str) -> None:
        self.key = key

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, Any, None]:
        request.headers["Authorization"] = f"Bearer {self.key}"
        yield request


@pytest.mark.e2e
async def test_an_independent_rfc7662_client_reads_the_answers(
    database_url: str, tmp_path: Path
) -> None:
    """authlib's OAuth 2 client, as a gateway would use it, against a served Roster."""
    settings = Settings(database_url=database_url, **TEST_HASHING.as_settings())
    admin_email = unique_email("gateway-owner")
    db, passwords = open_database(settings), Passwords(settings.password_hashing)
    try:
        await create_user(db, passwords, "Gateway Owner", admin_email, PASSWORD, "admin", CLI)
    finally:
        passwords.close()
        await db.close()
    with run_server(database_url, log_dir=tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=20) as http:
            admin_token = await login(http, admin_email)
            created = await http.post(
                "/api/keys",
                json={"name": "gateway", "scopes": ["tokens:introspect"]},
                headers=bearer(admin_token),
            )
            gateway_key = created.json()["data"]["key"]
            alice = await register(http, name="Alice")
            alice_token = await login(http, alice["email"])
        async with AsyncOAuth2Client() as oauth:
            url = f"{server.base_url}{PATH}"
            auth = BearerAuth(gateway_key)
            active = await oauth.introspect_token(
                url, token=alice_token, token_type_hint="access_token", auth=auth
            )
            inactive = await oauth.introspect_token(url, token="x" * 43, auth=auth)
    assert active.status_code == 200
    assert active.json()["active"] is True
    assert active.json()["username"] == alice["email"]
    assert inactive.json() == INACTIVE

"""Sessions (docs/API.md §2, v1.1): every token is a session its owner can see and end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from quart import Quart
from sqlalchemy import select, update

from roster.db.models import Token
from roster.settings import Settings

from .factories import Account, Accounts
from .helpers import (
    PASSWORD,
    Client,
    Json,
    assert_envelope,
    assert_error,
    bearer,
    database_session,
    parse_timestamp,
    runtime_of,
    serving,
)

SESSION_FIELDS = {
    "id", "label", "created_at", "expires_at", "last_used_at", "client_address", "current"
}  # fmt: skip
PEER = {"client": ("203.0.113.7", 40000)}


async def log_in(
    client: Client, email: str, label: str | None = None, user_agent: str | None = None
) -> Json:
    body: Json = {"email": email, "password": PASSWORD}
    if label is not None:
        body["label"] = label
    headers = {} if user_agent is None else {"User-Agent": user_agent}
    response = await client.post("/api/tokens", json=body, headers=headers, scope_base=PEER)
    assert response.status_code == 201, await response.get_data(as_text=True)
    data: Json = (await response.get_json())["data"]
    return data


async def sessions_of(client: Client, token: str, path: str = "/api/tokens") -> list[Json]:
    response = await client.get(path, headers=bearer(token))
    assert response.status_code == 200, await response.get_data(as_text=True)
    body = await assert_envelope(response)
    assert set(body["meta"]) == {"request_id"}
    found: list[Json] = body["data"]
    return found


async def token_works(client: Client, token: str) -> bool:
    return (await client.get("/api/profile", headers=bearer(token))).status_code == 200


async def test_login_names_the_session_and_returns_its_id(client: Client, alice: Account) -> None:
    named = await log_in(client, alice.email, label="  laptop  ")
    agent = await log_in(client, alice.email, user_agent="curl/8.5.0 " + "x" * 200)
    anonymous = await log_in(client, alice.email, user_agent="")
    listed = {session["id"]: session for session in await sessions_of(client, named["token"])}
    assert listed[named["id"]]["label"] == "laptop"
    assert listed[agent["id"]]["label"] == ("curl/8.5.0 " + "x" * 200)[:100]
    assert listed[anonymous["id"]]["label"] is None


async def test_a_label_from_user_agent_keeps_no_control_or_invisible_character(
    client: Client, alice: Account
) -> None:
    """The name rules hold for the default label too: a terminal-escape User-Agent is no
    label to show an admin."""
    hostile = "\x1b[2J\x1b]0;pwned\x07curl/8.5\x7f"
    agent = await log_in(client, alice.email, user_agent=hostile)
    blank = await log_in(client, alice.email, user_agent="\x1b\x07\x7f")
    listed = {session["id"]: session for session in await sessions_of(client, agent["token"])}
    assert listed[agent["id"]]["label"] == "[2J]0;pwnedcurl/8.5"
    assert listed[blank["id"]]["label"] is None


@pytest.mark.parametrize("label", ["", "   ", "x" * 101, "tab\there", None, 7])
async def test_a_bad_label_is_422(client: Client, alice: Account, label: object) -> None:
    body = {"email": alice.email, "password": PASSWORD, "label": label}
    response = await client.post("/api/tokens", json=body)
    assert "label" in await assert_error(response, 422, "VALIDATION_ERROR")


async def test_the_callers_live_sessions_newest_first(client: Client, alice: Account) -> None:
    second = await log_in(client, alice.email, label="phone")
    sessions = await sessions_of(client, second["token"])
    assert [session["id"] for session in sessions] == sorted(
        (session["id"] for session in sessions), reverse=True
    )
    assert len(sessions) == 2
    for session in sessions:
        assert set(session) == SESSION_FIELDS
        for field in ("created_at", "expires_at", "last_used_at"):
            parse_timestamp(session[field])
        assert session["current"] is (session["id"] == second["id"])
    assert sessions[0]["client_address"] == "203.0.113.7"
    raw = str(sessions)
    assert alice.token not in raw
    assert second["token"] not in raw


async def test_expired_sessions_are_not_listed(app: Quart, client: Client, alice: Account) -> None:
    other = await log_in(client, alice.email)
    async with database_session(app) as session:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await session.execute(update(Token).where(Token.id == other["id"]).values(expires_at=past))
        await session.commit()
    assert [s["id"] for s in await sessions_of(client, alice.token)] != [other["id"]]
    assert other["id"] not in [s["id"] for s in await sessions_of(client, alice.token)]


async def test_ending_one_session(client: Client, accounts: Accounts) -> None:
    alice = await accounts.user("Alice")
    bob = await accounts.user("Bob")
    phone = await log_in(client, alice.email)
    ended = await client.delete(f"/api/tokens/{phone['id']}", headers=alice.headers())
    assert ended.status_code == 204
    assert not await token_works(client, phone["token"])
    assert await token_works(client, alice.token)
    again = await client.delete(f"/api/tokens/{phone['id']}", headers=alice.headers())
    await assert_error(again, 404, "NOT_FOUND")

    # Another user's session is a 404 (never a 403 that would confirm it exists), and lives on.
    theirs = (await sessions_of(client, bob.token))[0]["id"]
    refused = await client.delete(f"/api/tokens/{theirs}", headers=alice.headers())
    await assert_error(refused, 404, "NOT_FOUND")
    assert await token_works(client, bob.token)
    unknown = await client.delete("/api/tokens/999999", headers=alice.headers())
    await assert_error(unknown, 404, "NOT_FOUND")


async def test_ending_the_others(client: Client, alice: Account) -> None:
    others = [await log_in(client, alice.email) for _ in range(3)]
    response = await client.delete("/api/tokens/others", headers=alice.headers())
    assert response.status_code == 204
    assert [s["current"] for s in await sessions_of(client, alice.token)] == [True]
    for other in others:
        assert not await token_works(client, other["token"])


async def test_a_users_sessions_for_themself_and_for_an_admin(
    client: Client, accounts: Accounts
) -> None:
    alice, bob, admin = (
        await accounts.user("Alice"),
        await accounts.user("Bob"),
        await accounts.admin(),
    )
    path = f"{alice.url}/tokens"
    assert len(await sessions_of(client, alice.token, path)) == 1
    listed = await sessions_of(client, admin.token, path)
    assert [s["current"] for s in listed] == [False]  # not the admin's token
    await assert_error(await client.get(path, headers=bob.headers()), 403, "FORBIDDEN")
    await assert_error(await client.delete(path, headers=bob.headers()), 403, "FORBIDDEN")
    missing = await client.get("/api/users/999999/tokens", headers=admin.headers())
    await assert_error(missing, 404, "NOT_FOUND")

    assert (await client.delete(path, headers=admin.headers())).status_code == 204
    assert not await token_works(client, alice.token)
    assert await token_works(client, admin.token)


async def test_ending_all_of_ones_own_ends_the_current_one_too(
    client: Client, alice: Account
) -> None:
    await log_in(client, alice.email)
    response = await client.delete(f"{alice.url}/tokens", headers=alice.headers())
    assert response.status_code == 204
    assert not await token_works(client, alice.token)


# --- how many, and when last used ------------------------------------------------------------


@pytest.fixture
async def touchy(settings: Settings) -> AsyncIterator[Quart]:
    """At most 3 sessions a user; every use is written (when the notes are flushed)."""
    async with serving(settings, max_tokens_per_user=3, token_touch_seconds=0) as app:
        yield app


async def test_a_login_beyond_the_maximum_ends_the_least_recently_used(touchy: Quart) -> None:
    accounts = Accounts(touchy, touchy.test_client())
    alice = await accounts.user()
    client = touchy.test_client()
    second, third = await log_in(client, alice.email), await log_in(client, alice.email)
    assert await token_works(client, alice.token)  # the first is now the most recently used
    await runtime_of(touchy).touches.flush()
    fourth = await log_in(client, alice.email)
    assert not await token_works(client, second["token"])
    for survivor in (alice.token, third["token"], fourth["token"]):
        assert await token_works(client, survivor)
    assert len(await sessions_of(client, alice.token)) == 3


async def test_last_used_at_is_written_off_the_request_path(touchy: Quart) -> None:
    alice = await Accounts(touchy, touchy.test_client()).user()
    client = touchy.test_client()
    before = await stored_last_used(touchy, alice.token)
    assert await token_works(client, alice.token)
    assert await stored_last_used(touchy, alice.token) == before, "not written by the request"
    await runtime_of(touchy).touches.flush()
    after = await stored_last_used(touchy, alice.token)
    assert after > before
    listed = (await sessions_of(client, alice.token))[0]
    assert parse_timestamp(listed["last_used_at"]) >= after.replace(tzinfo=UTC)


async def test_last_used_at_is_written_at_most_once_per_touch_interval(
    app: Quart, client: Client, alice: Account
) -> None:
    """With the default 60 s, a token used again and again is written no more."""
    before = await stored_last_used(app, alice.token)
    for _ in range(5):
        assert await token_works(client, alice.token)
    await runtime_of(app).touches.flush()
    assert await stored_last_used(app, alice.token) == before


async def stored_last_used(app: Quart, token: str) -> datetime:
    from roster.domain.credentials import hash_token

    async with database_session(app) as session:
        moment = await session.scalar(
            select(Token.last_used_at).where(Token.token_hash == hash_token(token))
        )
    assert moment is not None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

"""Section 3 of the contract: the `Idempotency-Key` header on POST /api/users."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from quart import Quart
from quart.wrappers import Response
from sqlalchemy import select, update

import roster.domain.users as users_service
from roster.db.models import IdempotencyKey
from roster.domain.housekeeping import purge
from roster.domain.idempotency import request_fingerprint
from roster.domain.passwords import Passwords
from roster.schemas import UserOut

from .factories import admin_with_token, user_with_token
from .helpers import (
    PASSWORD,
    Client,
    Json,
    assert_envelope,
    assert_error,
    bearer,
    body_of,
    database_session,
    login,
    runtime_of,
    total_users,
    unique_email,
)

KEY = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
ANONYMOUS = "anonymous"


# --- helpers -----------------------------------------------------------------------------------


def new_body(name: str = "Alice", email: str | None = None, **extra: Any) -> Json:
    return {"name": name, "email": email or unique_email(), "password": PASSWORD, **extra}


async def post_user(
    client: Client,
    body: Any,
    key: str | None = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    sent = dict(headers or {})
    if key is not None:
        sent[KEY] = key
    if token is not None:
        sent.update(bearer(token))
    return await client.post("/api/users", json=body, headers=sent)


async def post_raw(
    client: Client, raw: str, key: str, content_type: str = "application/json"
) -> Response:
    return await client.post(
        "/api/users", data=raw.encode(), headers={KEY: key, "Content-Type": content_type}
    )


async def assert_created(response: Response) -> Json:
    """A first-time 201 (not a replay); returns the user."""
    assert response.status_code == 201, await response.get_data(as_text=True)
    assert REPLAYED not in response.headers
    body = await assert_envelope(response)
    data: Json = body["data"]
    assert response.headers["Location"] == f"/api/users/{data['id']}"
    assert response.headers["ETag"]
    return data


async def assert_replay_of(replay: Response, first: Response) -> Json:
    """`replay` repeats `first`: status, data or error, Location, ETag; with a new request id."""
    assert replay.status_code == first.status_code, await replay.get_data(as_text=True)
    assert replay.headers.get(REPLAYED) == "true"
    original, repeated = await assert_envelope(first), await assert_envelope(replay)
    assert set(repeated) == set(original)
    for part in ("data", "error"):
        assert repeated.get(part) == original.get(part)
    for header in ("Location", "ETag"):
        assert replay.headers.get(header) == first.headers.get(header)
    assert repeated["meta"]["request_id"] != original["meta"]["request_id"]
    return repeated


async def observer_token(client: Client) -> str:
    """A token for reading users back (the observer is one of the users it sees)."""
    _, token = await user_with_token(client, name="Observer")
    return token


async def users_with_email(client: Client, token: str, email: str) -> list[Json]:
    response = await client.get(
        "/api/users", query_string={"q": email, "per_page": 100}, headers=bearer(token)
    )
    assert response.status_code == 200
    found: list[Json] = (await body_of(response))["data"]
    return [user for user in found if user["email"] == email.strip().lower()]


async def key_rows(app: Quart, key: str | None = None) -> list[IdempotencyKey]:
    async with database_session(app) as session:
        statement = select(IdempotencyKey).order_by(IdempotencyKey.id)
        if key is not None:
            statement = statement.where(IdempotencyKey.key == key)
        return list((await session.scalars(statement)).all())


async def set_key_times(app: Quart, key: str, **values: datetime) -> None:
    async with database_session(app) as session:
        result = await session.execute(
            update(IdempotencyKey).where(IdempotencyKey.key == key).values(**values)
        )
        await session.commit()
    assert result.rowcount == 1  # type: ignore[attr-defined]


async def delete_own_account(client: Client, user: Json) -> None:
    token = await login(client, user["email"])
    response = await client.delete(f"/api/users/{user['id']}", headers=bearer(token))
    assert response.status_code == 204


# --- first request and replay ------------------------------------------------------------------


async def test_first_request_is_created_and_its_outcome_stored(app: Quart, client: Client) -> None:
    body = new_body()
    response = await post_user(client, body, key="first-key")
    data = await assert_created(response)
    assert data["email"] == body["email"]

    [row] = await key_rows(app, "first-key")
    assert row.scope == ANONYMOUS
    assert row.status == 201
    assert row.request_hash == request_fingerprint(body)
    assert row.body is not None
    assert orjson.loads(row.body)["data"] == data
    assert orjson.loads(row.headers or "{}") == {
        "Location": response.headers["Location"],
        "ETag": response.headers["ETag"],
    }
    stored_for = _aware(row.expires_at) - _aware(row.created_at)
    assert stored_for == timedelta(hours=24)


async def test_request_without_key_is_not_stored(app: Quart, client: Client) -> None:
    await assert_created(await post_user(client, new_body()))
    assert await key_rows(app) == []


async def test_replay_repeats_the_first_outcome_and_creates_nothing(client: Client) -> None:
    token = await observer_token(client)
    body = new_body()
    first = await post_user(client, body, key="replay-key")
    data = await assert_created(first)
    users_before = await total_users(client, token)

    replay = await post_user(client, body, key="replay-key")
    repeated = await assert_replay_of(replay, first)
    assert repeated["data"] == data

    again = await post_user(client, body, key="replay-key", headers={"X-Request-ID": "retry-2"})
    await assert_replay_of(again, first)
    assert again.headers["X-Request-ID"] == "retry-2"
    assert (await body_of(again))["meta"]["request_id"] == "retry-2"

    assert await total_users(client, token) == users_before
    assert [user["id"] for user in await users_with_email(client, token, body["email"])] == [
        data["id"]
    ]


@pytest.mark.parametrize(
    "spelling",
    [
        '{{"password": "{password}", "email": "{email}", "name": "Alice"}}',
        '\n  {{ "email" :"{email}" ,\n\t"name":"Alice","password":"{password}" }}  \n',
        '{{"name": "\\u0041lice", "email": "{email}", "password": "{password}"}}',
    ],
    ids=["key-order", "whitespace", "unicode-escape"],
)
async def test_the_same_json_value_spelled_differently_replays(
    client: Client, spelling: str
) -> None:
    token = await observer_token(client)
    body = new_body()
    first = await post_user(client, body, key="spelling")
    await assert_created(first)
    raw = spelling.format(email=body["email"], password=PASSWORD)
    assert json.loads(raw) == body  # the same JSON value

    replay = await post_raw(client, raw, key="spelling")
    await assert_replay_of(replay, first)
    assert len(await users_with_email(client, token, body["email"])) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"email": "other"},
        {"name": "Alicia"},
        {"name": " Alice "},  # normalised to the same name, but a different JSON value
        {"email": "upper"},  # the same email once lower-cased, but a different JSON value
        {"password": "another-long-secret"},
        {"extra": "role"},
    ],
    ids=["email", "name", "name-whitespace", "email-case", "password", "added-field"],
)
async def test_the_same_key_with_another_body_is_422_and_creates_nothing(
    client: Client, change: dict[str, str]
) -> None:
    token = await observer_token(client)
    body = new_body()
    first = await post_user(client, body, key="reused")
    await assert_created(first)
    users_before = await total_users(client, token)

    other = dict(body)
    if change.get("email") == "other":
        other["email"] = unique_email("other")
    elif change.get("email") == "upper":
        other["email"] = body["email"].upper()
    elif "extra" in change:
        other["role"] = "user"
    else:
        other.update(change)
    response = await post_user(client, other, key="reused")
    details = await assert_error(response, 422, "IDEMPOTENCY_KEY_REUSED")
    assert REPLAYED not in response.headers
    assert "Location" not in response.headers
    assert KEY in details

    assert await total_users(client, token) == users_before
    if change.get("email") == "other":
        assert await users_with_email(client, token, other["email"]) == []
    # The key still holds, and replays, the first outcome.
    await assert_replay_of(await post_user(client, body, key="reused"), first)


# --- stored error outcomes ---------------------------------------------------------------------


async def test_a_409_duplicate_email_is_stored_and_replayed_even_once_the_email_is_free(
    client: Client,
) -> None:
    owner, owner_token = await user_with_token(client, name="Owner")
    body = new_body(email=owner["email"])
    first = await post_user(client, body, key="dup")
    details = await assert_error(first, 409, "CONFLICT")
    assert details == {"email": "Already registered"}
    assert "Location" not in first.headers

    deleted = await client.delete(f"/api/users/{owner['id']}", headers=bearer(owner_token))
    assert deleted.status_code == 204

    replay = await post_user(client, body, key="dup")
    await assert_replay_of(replay, first)
    assert "Location" not in replay.headers
    assert "ETag" not in replay.headers

    # The email really is free: without the key (or with another one) it registers.
    created = await assert_created(await post_user(client, body, key="dup-2"))
    assert created["email"] == owner["email"]
    # ... and the first key still replays its 409.
    await assert_replay_of(await post_user(client, body, key="dup"), first)


async def test_a_403_role_refusal_is_stored_and_replayed(app: Quart, client: Client) -> None:
    _, token = await user_with_token(client)
    body = new_body(role="admin")
    first = await post_user(client, body, key="role", token=token)
    details = await assert_error(first, 403, "FORBIDDEN")
    assert "role" in details

    [row] = await key_rows(app, "role")
    assert row.status == 403

    replay = await post_user(client, body, key="role", token=token)
    await assert_replay_of(replay, first)
    assert await users_with_email(client, token, body["email"]) == []


async def test_a_403_takes_precedence_over_a_malformed_key(client: Client) -> None:
    _, token = await user_with_token(client)
    response = await post_user(client, new_body(role="admin"), key="", token=token)
    await assert_error(response, 403, "FORBIDDEN")


async def test_an_admin_creation_is_scoped_to_the_admin_and_replayed(
    app: Quart, client: Client
) -> None:
    admin, token = await admin_with_token(app, client)
    body = new_body(role="admin")
    first = await post_user(client, body, key="admin-key", token=token)
    data = await assert_created(first)
    assert data["role"] == "admin"
    [row] = await key_rows(app, "admin-key")
    assert row.scope == f"user:{admin['id']}"
    await assert_replay_of(await post_user(client, body, key="admin-key", token=token), first)


# --- outcomes that are not stored --------------------------------------------------------------


@pytest.mark.parametrize(
    "invalid",
    [
        {"name": "Alice", "password": PASSWORD},
        {"name": "Alice", "email": "not-an-email", "password": PASSWORD},
        {"name": "Alice", "email": "a@example.com", "password": "short"},
        {"name": None, "email": "a@example.com", "password": PASSWORD},
        {"name": "Alice", "email": "a@example.com", "password": PASSWORD, "nickname": "Al"},
        ["not", "an", "object"],
    ],
    ids=["missing", "bad-email", "short-password", "null", "unknown-field", "not-object"],
)
async def test_a_422_is_not_stored_and_the_key_then_works(
    app: Quart, client: Client, invalid: Any
) -> None:
    response = await post_user(client, invalid, key="invalid-first")
    await assert_error(response, 422, "VALIDATION_ERROR")
    assert REPLAYED not in response.headers
    assert await key_rows(app, "invalid-first") == []

    # Retrying the invalid body is validated again, not replayed.
    again = await post_user(client, invalid, key="invalid-first")
    await assert_error(again, 422, "VALIDATION_ERROR")
    assert REPLAYED not in again.headers

    await assert_created(await post_user(client, new_body(), key="invalid-first"))


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        ('{"name": "Alice", "email": ', "application/json"),
        ('{"name": "Alice"} trailing', "application/json"),
        ('{"name": "Alice", "email": "a@example.com", "password": "x"}', "text/plain"),
    ],
    ids=["truncated", "trailing-garbage", "not-json-content-type"],
)
async def test_a_400_body_is_not_stored_and_the_key_then_works(
    app: Quart, client: Client, raw: str, content_type: str
) -> None:
    response = await post_raw(client, raw, key="bad-json", content_type=content_type)
    await assert_error(response, 400, "BAD_REQUEST")
    assert await key_rows(app, "bad-json") == []
    await assert_created(await post_user(client, new_body(), key="bad-json"))


async def test_a_5xx_is_not_stored_and_the_retry_creates_the_user(
    app: Quart, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = users_service.create_user
    failures: list[str] = []

    async def fail_once(*args: Any, **kwargs: Any) -> UserOut:
        if not failures:
            failures.append("failed")
            raise RuntimeError("boom")
        return await original(*args, **kwargs)

    token = await observer_token(client)
    monkeypatch.setattr(users_service, "create_user", fail_once)
    body = new_body()

    failed = await post_user(client, body, key="flaky")
    details = await assert_error(failed, 500, "SERVER_ERROR")
    assert details == {}
    assert failures == ["failed"]
    assert await key_rows(app, "flaky") == []
    assert await users_with_email(client, token, body["email"]) == []

    retry = await post_user(client, body, key="flaky")
    data = await assert_created(retry)
    assert [user["id"] for user in await users_with_email(client, token, body["email"])] == [
        data["id"]
    ]
    await assert_replay_of(await post_user(client, body, key="flaky"), retry)


# --- scoping -----------------------------------------------------------------------------------


async def test_keys_are_scoped_to_the_caller(app: Quart, client: Client) -> None:
    alice, alice_token = await user_with_token(client, name="Alice")
    bob, bob_token = await user_with_token(client, name="Bob")
    anonymous_body, alice_body, bob_body = new_body("Anon"), new_body("A2"), new_body("B2")

    anonymous_first = await post_user(client, anonymous_body, key="shared")
    await assert_created(anonymous_first)
    # The same key for another caller is a new key: not a replay, not "reused".
    alice_first = await post_user(client, alice_body, key="shared", token=alice_token)
    await assert_created(alice_first)
    bob_first = await post_user(client, bob_body, key="shared", token=bob_token)
    await assert_created(bob_first)

    # Each caller replays their own outcome.
    await assert_replay_of(await post_user(client, anonymous_body, key="shared"), anonymous_first)
    await assert_replay_of(
        await post_user(client, alice_body, key="shared", token=alice_token), alice_first
    )
    await assert_replay_of(
        await post_user(client, bob_body, key="shared", token=bob_token), bob_first
    )
    # Alice's key holds Alice's body only.
    response = await post_user(client, anonymous_body, key="shared", token=alice_token)
    await assert_error(response, 422, "IDEMPOTENCY_KEY_REUSED")

    rows = await key_rows(app, "shared")
    assert {row.scope: row.status for row in rows} == {
        ANONYMOUS: 201,
        f"user:{alice['id']}": 201,
        f"user:{bob['id']}": 201,
    }


async def test_the_same_body_by_another_caller_is_not_a_replay(client: Client) -> None:
    _, token = await user_with_token(client)
    body = new_body()
    await assert_created(await post_user(client, body, key="k"))
    # Not replayed from the anonymous scope: a fresh request, so a duplicate email.
    response = await post_user(client, body, key="k", token=token)
    await assert_error(response, 409, "CONFLICT")
    assert REPLAYED not in response.headers


# --- the header's form -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["", "k" * 256, "cl\u00e9", "a\x01b", "a\tb", "a\x7fb"],
    ids=["empty", "256-chars", "non-ascii", "control", "tab", "delete"],
)
async def test_a_malformed_key_is_400_and_nothing_is_created(
    app: Quart, client: Client, key: str
) -> None:
    token = await observer_token(client)
    body = new_body()
    response = await post_user(client, body, key=key)
    details = await assert_error(response, 400, "BAD_REQUEST")
    assert KEY in details
    assert await users_with_email(client, token, body["email"]) == []
    assert await key_rows(app) == []


@pytest.mark.parametrize(
    "key",
    [
        "".join(chr(0x21 + i % 94) for i in range(255)),
        "x",
        "a key with spaces",
        "~" * 255,
    ],
    ids=["255-printable", "one-char", "spaces", "255-tildes"],
)
async def test_printable_keys_up_to_255_characters_work(
    app: Quart, client: Client, key: str
) -> None:
    body = new_body()
    first = await post_user(client, body, key=key)
    await assert_created(first)
    await assert_replay_of(await post_user(client, body, key=key), first)
    [row] = await key_rows(app)
    assert row.key == key


# --- concurrency and in-flight claims ----------------------------------------------------------


async def test_concurrent_requests_with_one_key_create_one_user(client: Client) -> None:
    token = await observer_token(client)
    users_before = await total_users(client, token)
    body = new_body()

    responses = await asyncio.gather(
        *(post_user(client, body, key="concurrent") for _ in range(30))
    )

    created = [r for r in responses if r.status_code == 201 and REPLAYED not in r.headers]
    replays = [r for r in responses if r.status_code == 201 and REPLAYED in r.headers]
    in_use = [r for r in responses if r.status_code == 409]
    assert len(created) == 1
    assert len(created) + len(replays) + len(in_use) == 30
    first = created[0]
    for replay in replays:
        await assert_replay_of(replay, first)
    for response in in_use:
        await assert_error(response, 409, "IDEMPOTENCY_KEY_IN_USE")
    ids = {(await body_of(r))["meta"]["request_id"] for r in responses}
    assert len(ids) == 30

    assert await total_users(client, token) == users_before + 1
    assert len(await users_with_email(client, token, body["email"])) == 1
    # Once it has settled, every retry is a replay.
    await assert_replay_of(await post_user(client, body, key="concurrent"), first)


async def test_a_key_in_flight_is_409_until_the_first_request_ends(
    app: Quart, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    passwords: Passwords = runtime_of(app).passwords
    original: Callable[[str], Awaitable[str]] = passwords.hash
    hashing, finish = asyncio.Event(), asyncio.Event()

    async def slow_hash(password: str) -> str:
        hashing.set()
        await finish.wait()
        return await original(password)

    monkeypatch.setattr(passwords, "hash", slow_hash)
    body = new_body()
    first_task = asyncio.create_task(post_user(client, body, key="slow"))
    try:
        await asyncio.wait_for(hashing.wait(), timeout=5)

        during = await post_user(client, body, key="slow")
        await assert_error(during, 409, "IDEMPOTENCY_KEY_IN_USE")
        assert REPLAYED not in during.headers
        # A different body is still refused as a reuse of the key.
        other = await post_user(client, new_body(), key="slow")
        await assert_error(other, 422, "IDEMPOTENCY_KEY_REUSED")
        [row] = await key_rows(app, "slow")
        assert row.status is None
    finally:
        finish.set()
        first = await asyncio.wait_for(first_task, timeout=10)

    await assert_created(first)
    await assert_replay_of(await post_user(client, body, key="slow"), first)


async def test_an_abandoned_claim_is_taken_over_and_a_recent_one_is_not(
    app: Quart, client: Client
) -> None:
    body = new_body()
    await _insert_claim(app, "abandoned", body, age=timedelta(minutes=6))
    await _insert_claim(app, "recent", body, age=timedelta(minutes=1))

    await assert_error(await post_user(client, body, key="recent"), 409, "IDEMPOTENCY_KEY_IN_USE")
    first = await post_user(client, body, key="abandoned")
    await assert_created(first)
    await assert_replay_of(await post_user(client, body, key="abandoned"), first)


async def _insert_claim(app: Quart, key: str, body: Json, age: timedelta) -> None:
    now = datetime.now(UTC)
    async with database_session(app) as session:
        session.add(
            IdempotencyKey(
                scope=ANONYMOUS,
                key=key,
                request_hash=request_fingerprint(body),
                created_at=now - age,
                expires_at=now - age + timedelta(hours=24),
            )
        )
        await session.commit()


# --- expiry and purge --------------------------------------------------------------------------


async def test_an_expired_key_acts_as_new(app: Quart, client: Client) -> None:
    body = new_body()
    first = await post_user(client, body, key="ages")
    old = await assert_created(first)
    await delete_own_account(client, old)

    # Not yet expired: the old outcome is replayed although that user is gone.
    await assert_replay_of(await post_user(client, body, key="ages"), first)

    await set_key_times(app, "ages", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    again = await post_user(client, body, key="ages")
    new = await assert_created(again)
    assert new["id"] != old["id"]
    assert new["email"] == old["email"]
    await assert_replay_of(await post_user(client, body, key="ages"), again)


async def test_an_expired_key_accepts_another_body(app: Quart, client: Client) -> None:
    await assert_created(await post_user(client, new_body(), key="ages"))
    await set_key_times(app, "ages", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    other = new_body("Other")
    created = await assert_created(await post_user(client, other, key="ages"))
    assert created["email"] == other["email"]
    [row] = await key_rows(app, "ages")
    assert row.request_hash == request_fingerprint(other)


async def test_purge_deletes_expired_keys_only(app: Quart, client: Client) -> None:
    kept_body = new_body()
    kept = await post_user(client, kept_body, key="kept")
    await assert_created(kept)
    await assert_created(await post_user(client, new_body(), key="expired"))
    await set_key_times(app, "expired", expires_at=datetime.now(UTC) - timedelta(seconds=1))

    runtime = runtime_of(app)
    await purge(runtime.db, runtime.settings, datetime.now(UTC))

    assert [row.key for row in await key_rows(app)] == ["kept"]
    await assert_replay_of(await post_user(client, kept_body, key="kept"), kept)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

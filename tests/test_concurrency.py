"""Correct under concurrency: many simultaneous requests through one app (and two apps sharing
one database, as several workers do), with password hashing kept off the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

import pytest
from quart import Quart, Response
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from roster.db.models import Token, User
from roster.db.sqlite import READER_THREADS
from roster.settings import PasswordHashing, Settings

from .factories import user_with_token
from .helpers import (
    PASSWORD,
    Argon2Spy,
    Client,
    bearer,
    database_session,
    login,
    register,
    runtime_of,
    serving,
    unique_email,
)

SLOW_HASHING = PasswordHashing(memory_kib=8192, time_cost=3, parallelism=1, workers=2, niceness=10)


async def user_count(app: Quart, email: str | None = None) -> int:
    async with database_session(app) as session:
        statement = select(func.count()).select_from(User)
        if email is not None:
            statement = statement.where(User.email == email)
        return (await session.scalar(statement)) or 0


def statuses(responses: list[Response]) -> list[int]:
    return [response.status_code for response in responses]


def registration(email: str, name: str = "Racer") -> dict[str, str]:
    return {"name": name, "email": email, "password": PASSWORD}


# --- many requests at once -----------------------------------------------------------------


async def test_200_simultaneous_registrations(app: Quart, client: Client) -> None:
    emails = [unique_email(f"r{index}") for index in range(200)]
    responses = await asyncio.gather(
        *(client.post("/api/users", json=registration(email)) for email in emails)
    )
    assert statuses(responses) == [201] * 200
    bodies = [await response.get_json() for response in responses]
    assert sorted(body["data"]["email"] for body in bodies) == sorted(emails)
    assert len({body["data"]["id"] for body in bodies}) == 200
    assert await user_count(app) == 200


async def test_100_simultaneous_patches_of_one_user(client: Client) -> None:
    user, token = await user_with_token(client)
    names = [f"n{index}" for index in range(100)]
    responses = await asyncio.gather(
        *(
            client.patch(f"/api/users/{user['id']}", json={"name": name}, headers=bearer(token))
            for name in names
        )
    )
    assert statuses(responses) == [200] * 100
    returned = [(await response.get_json())["data"]["name"] for response in responses]
    assert sorted(returned) == sorted(names)  # each PATCH saw its own write
    final = await client.get(f"/api/users/{user['id']}", headers=bearer(token))
    assert final.status_code == 200
    assert (await final.get_json())["data"]["name"] in names


async def test_100_registrations_racing_for_one_email(app: Quart, client: Client) -> None:
    email = unique_email("contested")
    responses = await asyncio.gather(
        *(
            client.post("/api/users", json=registration(email, f"Racer {index}"))
            for index in range(100)
        )
    )
    codes = statuses(responses)
    assert codes.count(201) == 1
    assert codes.count(409) == 99
    for response in responses:
        if response.status_code == 409:
            error = (await response.get_json())["error"]
            assert error["code"] == "CONFLICT"
            assert error["details"] == {"email": "Already registered"}
    assert await user_count(app, email) == 1
    assert await user_count(app) == 1
    # The one stored user is the one the 201 described, and can log in.
    (winner,) = [response for response in responses if response.status_code == 201]
    created = (await winner.get_json())["data"]
    token = await login(client, email)
    profile = await client.get("/api/profile", headers=bearer(token))
    assert (await profile.get_json())["data"] == created


async def test_mixed_registrations_logins_and_reads(app: Quart, client: Client) -> None:
    existing = [await register(client, name=f"Old {index}") for index in range(20)]
    _, reader = await user_with_token(client, name="Reader")
    new_emails = [unique_email(f"new{index}") for index in range(40)]

    work: list[Awaitable[Response]] = []
    work += [client.post("/api/users", json=registration(email)) for email in new_emails]
    work += [
        client.post("/api/tokens", json={"email": user["email"], "password": PASSWORD})
        for user in existing
    ]
    work += [client.get(f"/api/users/{user['id']}", headers=bearer(reader)) for user in existing]
    work += [client.get("/api/users?per_page=100", headers=bearer(reader)) for _ in range(10)]
    work += [client.get("/api/profile", headers=bearer(reader)) for _ in range(10)]
    responses = await asyncio.gather(*work)

    registered, logins = responses[:40], responses[40:60]
    reads = responses[60:80]
    assert statuses(registered) == [201] * 40
    assert statuses(logins) == [201] * 20
    assert statuses(responses[60:]) == [200] * 40
    for user, response in zip(existing, reads, strict=True):
        assert (await response.get_json())["data"] == user

    # Nothing lost: every new user is stored, every issued token works.
    assert await user_count(app) == 20 + 1 + 40
    listing = await client.get("/api/users?per_page=100", headers=bearer(reader))
    stored = {user["email"] for user in (await listing.get_json())["data"]}
    assert set(new_emails) <= stored
    for user, response in zip(existing, logins, strict=True):
        token = (await response.get_json())["data"]["token"]
        profile = await client.get("/api/profile", headers=bearer(token))
        assert (await profile.get_json())["data"]["id"] == user["id"]
    async with database_session(app) as session:
        assert await session.scalar(select(func.count()).select_from(Token)) == 21


async def test_two_workers_sharing_one_database(settings: Settings) -> None:
    """Two apps (each with its own engine, pool and write lock) on the same database."""
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(serving(settings))
        second = await stack.enter_async_context(serving(settings))
        clients = [first.test_client(), second.test_client()]
        contested = unique_email("shared")
        emails = [unique_email(f"w{index}") for index in range(60)]
        work = [
            clients[index % 2].post("/api/users", json=registration(email))
            for index, email in enumerate(emails)
        ]
        work += [
            clients[index % 2].post("/api/users", json=registration(contested))
            for index in range(20)
        ]
        responses = await asyncio.gather(*work)
        assert statuses(responses[:60]) == [201] * 60
        assert sorted(statuses(responses[60:])) == [201] + [409] * 19
        assert await user_count(first) == 61
        assert await user_count(second, contested) == 1
        # A token issued by one worker is honoured by the other.
        token = await login(clients[0], emails[0])
        profile = await clients[1].get("/api/profile", headers=bearer(token))
        assert profile.status_code == 200


# --- SQLite connection set-up ---------------------------------------------------------------


async def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(
    app: Quart, settings: Settings
) -> None:
    if not settings.is_sqlite:
        pytest.skip("SQLite pragmas")
    db = runtime_of(app).db
    release = threading.Event()
    # Every reader at once (each holds its own connection), and the writer.
    readers = [db.read(_pragmas, release) for _ in range(READER_THREADS)]
    release_soon = asyncio.get_running_loop().call_later(0.3, release.set)
    seen = await asyncio.gather(*readers, db.write(_writer_pragmas, release))
    release_soon.cancel()
    assert len({connection for connection, *_ in seen}) == READER_THREADS + 1
    for _connection, journal, busy, keys in seen:
        assert str(journal).lower() == "wal"
        assert busy == settings.db_busy_timeout_ms
        assert isinstance(busy, int)
        assert busy > 0
        assert keys == 1


def _pragmas(connection: Connection, release: threading.Event) -> tuple[Any, ...]:
    """Which connection this is, and its pragmas; held until every unit of the test runs, so
    that each has a connection of its own."""
    release.wait(5)
    pragmas = [
        connection.execute(text(f"PRAGMA {name}")).scalar()
        for name in ("journal_mode", "busy_timeout", "foreign_keys")
    ]
    return (id(connection.connection.dbapi_connection), *pragmas)


def _writer_pragmas(session: Session, release: threading.Event) -> tuple[Any, ...]:
    return _pragmas(session.connection(), release)


# --- password hashing: off the loop, bounded ---------------------------------------------------


@pytest.fixture
async def slow_app(settings: Settings) -> AsyncIterator[Quart]:
    async with serving(settings, **SLOW_HASHING.as_settings()) as application:
        yield application


@pytest.fixture
def probe(slow_app: Quart, monkeypatch: pytest.MonkeyPatch) -> Argon2Spy:
    spy = Argon2Spy(monkeypatch)
    spy.clear()  # what starting the app hashed does not count
    return spy


async def test_hashing_does_not_block_the_event_loop(slow_app: Quart, probe: Argon2Spy) -> None:
    client = slow_app.test_client()
    order: list[str] = []
    hashes_done_at_health: list[int] = []

    async def register_one(index: int) -> int:
        response = await client.post("/api/users", json=registration(unique_email(f"s{index}")))
        order.append("register")
        return response.status_code

    async def health() -> int:
        response = await client.get("/health")
        order.append("health")
        hashes_done_at_health.append(probe.finished)
        return response.status_code

    registrations = [asyncio.create_task(register_one(index)) for index in range(64)]
    await asyncio.to_thread(probe.started.wait, 30)  # the registrations are hashing
    health_codes = [await health() for _ in range(10)]
    register_codes = await asyncio.gather(*registrations)

    assert health_codes == [200] * 10
    assert register_codes == [201] * 64
    assert order.count("health") == 10
    # Every /health answered before the last registration completed...
    assert order[-1] == "register"
    last_health = max(index for index, what in enumerate(order) if what == "health")
    assert order[last_health + 1 :].count("register") > 0
    # ...and while most of the hashing was still to do: the loop never waited for a hash.
    assert max(hashes_done_at_health) < 32, hashes_done_at_health
    assert probe.finished == 64


async def test_hashing_is_bounded_by_workers(slow_app: Quart, probe: Argon2Spy) -> None:
    client = slow_app.test_client()
    responses = await asyncio.gather(
        *(
            client.post("/api/users", json=registration(unique_email(f"b{index}")))
            for index in range(64)
        )
    )
    assert statuses(responses) == [201] * 64
    assert probe.finished == 64
    assert probe.running == 0
    # Never more than `workers` hashes at once, and the pool is really used in parallel.
    assert probe.peak == SLOW_HASHING.workers


# --- Core units of work ---------------------------------------------------------------------


async def test_a_core_unit_commits_when_it_returns_and_leaves_nothing_when_it_raises(
    app: Quart,
) -> None:
    db = runtime_of(app).db
    failed, kept = unique_email("failed"), unique_email("kept")
    with pytest.raises(RuntimeError):
        await db.write_core(_add_user, failed, fail=True)
    assert await db.write_core(_add_user, kept, fail=False) == kept  # the writer goes on
    assert await user_count(app, failed) == 0
    assert await user_count(app, kept) == 1


def _add_user(connection: Connection, email: str, fail: bool) -> str:
    now = datetime.now(UTC)
    row = {"name": "Core", "email": email, "password_hash": "x", "created_at": now}
    connection.execute(insert(User).values(**row, updated_at=now))
    if fail:
        raise RuntimeError("after the INSERT")
    return email

"""Readiness (docs/API.md §4): 200 only when the database answers and its schema is what this
release needs; a database that is not migrated is a deployment mistake to report, not an outage
for clients to retry forever."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator

import pytest
from quart import Quart
from sqlalchemy import text
from sqlalchemy.engine import Connection

from roster.db.connect import create_engine
from roster.db.migrations import head_revision, upgrade
from roster.db.postgresql import PostgreSQLDatabase
from roster.db.sqlite import READER_THREADS
from roster.settings import Settings

from .helpers import PASSWORD, Client, assert_error, body_of, runtime_of, serving, unique_email


@pytest.fixture
async def unmigrated_app(settings: Settings, empty_database_url: str) -> AsyncIterator[Quart]:
    async with serving(settings, database_url=empty_database_url) as app:
        yield app


async def set_revision(url: str, revision: str) -> None:
    engine = create_engine(Settings(database_url=url))
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE alembic_version SET version_num = :v"), {"v": revision}
            )
    finally:
        await engine.dispose()


async def test_a_migrated_database_is_ready(client: Client) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert (await body_of(response))["data"] == {"status": "ok", "database": "ok"}


async def test_an_unmigrated_database_is_not_ready_and_says_why(unmigrated_app: Quart) -> None:
    response = await unmigrated_app.test_client().get("/health/ready")
    details = await assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert "roster migrate" in details["database"]
    assert "Not migrated" in details["database"]
    assert response.headers["Retry-After"]


async def test_api_requests_on_an_unmigrated_database_give_the_readiness_cause(
    unmigrated_app: Quart,
) -> None:
    """Under plain hypercorn nothing migrates: until someone does, every request answers what
    readiness answers (503, "run `roster migrate`"), never a 500."""
    client = unmigrated_app.test_client()
    body = {"name": "A", "email": unique_email(), "password": PASSWORD}
    ready = await assert_error(await client.get("/health/ready"), 503, "SERVICE_UNAVAILABLE")
    for response in (
        await client.post("/api/users", json=body),
        await client.post("/api/tokens", json={"email": body["email"], "password": PASSWORD}),
    ):
        details = await assert_error(response, 503, "SERVICE_UNAVAILABLE")
        assert details["database"] == ready["database"]
        assert "roster migrate" in details["database"]
        assert response.headers["Retry-After"]


async def test_api_requests_on_an_older_revision_give_the_readiness_cause(
    settings: Settings, empty_database_url: str
) -> None:
    await asyncio.to_thread(upgrade, empty_database_url, "0003")  # no sessions' columns yet
    async with serving(settings, database_url=empty_database_url) as app:
        client = app.test_client()
        body = {"name": "A", "email": unique_email(), "password": PASSWORD}
        response = await client.post("/api/users", json=body)
    details = await assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert "At revision 0003" in details["database"]


async def test_an_older_revision_is_not_ready(settings: Settings, empty_database_url: str) -> None:
    await asyncio.to_thread(upgrade, empty_database_url, "0002")
    async with serving(settings, database_url=empty_database_url) as app:
        response = await app.test_client().get("/health/ready")
    details = await assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert "At revision 0002" in details["database"]
    assert head_revision() in details["database"]


async def test_a_revision_of_a_newer_release_still_serves_this_one(
    settings: Settings, empty_database_url: str
) -> None:
    """Migrations only add: during a rolling upgrade the old instances stay in rotation."""
    await asyncio.to_thread(upgrade, empty_database_url)
    await set_revision(empty_database_url, "9999_from_a_newer_release")
    app: Quart
    async with serving(settings, database_url=empty_database_url) as app:
        response = await app.test_client().get("/health/ready")
    assert response.status_code == 200


async def test_readiness_goes_through_the_path_requests_take(settings: Settings) -> None:
    """Readiness is a unit of work like any request's: with every SQLite reader thread, or
    every pooled PostgreSQL connection, held past its deadline it is 503, then 200 once they
    are free."""
    limited = {"db_connect_timeout": 0.5, "db_connections": 2}
    async with serving(settings, **limited, db_pool_timeout=0.2) as app:
        async with holding_every_connection(app, settings):
            busy = await app.test_client().get("/health/ready")
        free = await app.test_client().get("/health/ready")
    await assert_error(busy, 503, "SERVICE_UNAVAILABLE")
    assert free.status_code == 200


def _sleep(connection: Connection, seconds: float) -> None:
    connection.execute(text("SELECT pg_sleep(:seconds)"), {"seconds": seconds})


@contextlib.asynccontextmanager
async def holding_every_connection(app: Quart, settings: Settings) -> AsyncIterator[None]:
    db = runtime_of(app).db
    if isinstance(db, PostgreSQLDatabase):  # its 2 connections, both taken for a while
        held = [asyncio.ensure_future(db.read(_sleep, 1.5)) for _ in range(db.connections)]
        await asyncio.sleep(0.2)
        try:
            yield
        finally:
            await asyncio.gather(*held)
        return
    release = threading.Event()
    readers = [
        asyncio.ensure_future(db.read(lambda _connection: release.wait(30)))
        for _ in range(READER_THREADS)
    ]
    await asyncio.sleep(0.2)
    try:
        yield
    finally:
        release.set()
        await asyncio.gather(*readers)

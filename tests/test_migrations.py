"""Alembic: the migrations build exactly the models' schema, and go down and up again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import unicodedata
from collections.abc import Iterator
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from alembic import command
from roster.db.connect import create_engine, open_database
from roster.db.list_queries import Found, Listing, Plan, find_after, find_page
from roster.db.migrations import alembic_config, modelled, upgrade
from roster.db.models import Base
from roster.settings import Settings

from .bulk import import_users

APP_TABLES = {
    "users",
    "tokens",
    "idempotency_keys",
    "login_attempts",
    "user_counts",
    "signing_keys",
}


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"include_name": modelled})
    diff: list[Any] = compare_metadata(context, Base.metadata)
    return diff


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def inspect_database(url: str) -> tuple[list[Any], set[str]]:
    engine = create_engine(Settings(database_url=url))
    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(_differences)
            tables = await connection.run_sync(_tables)
    finally:
        await engine.dispose()
    return diff, tables


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    diff, tables = await inspect_database(database_url)
    assert diff == []
    assert APP_TABLES | {"alembic_version"} <= tables


def test_downgrade_to_base_then_upgrade_to_head(empty_database_url: str) -> None:
    # Alembic's env.py runs its own event loop: this test is synchronous on purpose.
    url = empty_database_url
    upgrade(url)
    diff, tables = asyncio.run(inspect_database(url))
    assert diff == []
    assert tables >= APP_TABLES

    command.downgrade(alembic_config(url), "base")
    _, tables = asyncio.run(inspect_database(url))
    assert tables & APP_TABLES == set()

    upgrade(url)
    diff, tables = asyncio.run(inspect_database(url))
    assert diff == []
    assert tables >= APP_TABLES


def test_emails_are_renormalised_and_no_account_is_lost(empty_database_url: str) -> None:
    """0003 brings v1's lower-cased addresses to NFC + case folding. Where two accounts become
    one address, both rows stay and the pair is reported."""
    url = empty_database_url
    upgrade(url, "0002")
    stored_by_v1 = {
        "ordinary@example.com": "ordinary@example.com",
        "οδος@example.gr": "οδοσ@example.gr",  # ΟΔΟΣ, lower-cased: collides with the next
        "οδοσ@example.gr": "οδοσ@example.gr",
        unicodedata.normalize("NFD", "josé@example.es"): "josé@example.es",
        "straße@example.de": "strasse@example.de",
    }
    asyncio.run(import_users(url, [("V1", email) for email in stored_by_v1]))
    reports = LogCapture()
    with reports.attached("alembic.runtime.migration"):
        upgrade(url)
    emails = asyncio.run(emails_by_id(url))
    assert len(emails) == len(stored_by_v1)  # no row lost
    normal = sorted({*stored_by_v1.values()})
    assert sorted(set(emails.values()) & set(normal)) == normal
    kept_apart = set(emails.values()) - set(normal)
    assert kept_apart == {"οδος@example.gr"}  # the later twin keeps its address, reported
    assert any("οδος@example.gr" in message for message in reports.messages)


class LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    @contextlib.contextmanager
    def attached(self, name: str) -> Iterator[None]:
        logger = logging.getLogger(name)
        logger.addHandler(self)
        try:
            yield
        finally:
            logger.removeHandler(self)


async def emails_by_id(url: str) -> dict[int, str]:
    engine = create_engine(Settings(database_url=url))
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT id, email FROM users"))
            return {row.id: row.email for row in rows}
    finally:
        await engine.dispose()


def test_a_v1_database_with_users_lists_counts_and_searches_after_upgrade(
    empty_database_url: str,
) -> None:
    """0005 builds the counts and the search index from the rows already there; 0008 leaves
    every user unverified (nobody has proved an address yet)."""
    url = empty_database_url
    upgrade(url, "0002")
    asyncio.run(import_users(url, [(f"Old Timer {i}", f"old{i}@v1.test") for i in range(40)]))
    asyncio.run(import_users(url, [("Old Admin", "admin@v1.test")], role="admin"))
    upgrade(url)
    (everyone, everyone_total), (admins, admins_total), (found, found_total), after = asyncio.run(
        listings(url)
    )
    assert everyone_total == 41
    assert [user.email_verified for user in everyone.users] == [False] * 41
    assert admins_total == 1
    assert admins.users[0].email == "admin@v1.test"
    assert found_total == 11  # old1, old10-old19
    assert {user.email for user in found.users} == {"old1@v1.test"} | {
        f"old{i}@v1.test" for i in range(10, 20)
    }
    assert [user.name for user in after.users] == ["Old Timer 10", "Old Timer 11"]


Counted = tuple[Found, int]


async def listings(url: str) -> tuple[Counted, Counted, Counted, Found]:
    db = open_database(Settings(database_url=url))

    def plan(listing: Listing) -> Plan:
        return Plan.of(listing, db.dialect)

    try:
        everyone = await db.read(find_page, plan(Listing("id")), 50, 0)
        admins = await db.read(find_page, plan(Listing("id", role="admin")), 50, 0)
        found = await db.read(find_page, plan(Listing("email", q="OLD1")), 50, 0)
        first, _total = await db.read(find_page, plan(Listing("name", q="timer 1")), 1, 0)
        assert first.next_key is not None
        after = await db.read(find_after, plan(Listing("name", q="timer 1")), 2, first.next_key)
    finally:
        await db.close()
    return everyone, admins, found, after

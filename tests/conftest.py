"""Fixtures: a fresh database per test (SQLite file or PostgreSQL), the app and its client."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from roster.app import create_app
from roster.db.migrations import upgrade
from roster.settings import Settings
from roster.testing.mailbox import MailServer, mail_server
from roster.testing.plugin import TEST_HASHING

from . import pg
from .factories import Account, Accounts

BACKEND = os.environ.get("ROSTER_TEST_DATABASE", "sqlite")
# Cheap hashing for speed; tests about the production parameters build their own settings.
FAST_HASHING = TEST_HASHING


@dataclass(frozen=True)
class Template:
    """A migrated database that each test gets a fresh copy of."""

    backend: str
    url: str
    path: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    """On the PostgreSQL run, the plugin's roster_server serves a database of its own there,
    as a team would point it with --roster-database-url."""
    wanted = BACKEND == "postgresql" and not config.getoption("--roster-database-url")
    if wanted and pg.unavailable_reason() is None:
        config.option.roster_database_url = pg.create_database()
        config.stash[PLUGIN_DATABASE] = config.option.roster_database_url


def pytest_unconfigure(config: pytest.Config) -> None:
    url = config.stash.get(PLUGIN_DATABASE, None)
    if url is not None:
        pg.drop_database(url)


PLUGIN_DATABASE = pytest.StashKey[str]()


def pytest_report_header() -> str:
    return f"roster test database: {BACKEND}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if BACKEND != "postgresql":
        return
    reason = pg.unavailable_reason()
    if reason is None:
        return
    marker = pytest.mark.skip(reason=f"PostgreSQL run skipped: {reason}")
    for item in items:
        item.add_marker(marker)


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    if BACKEND == "postgresql":
        url = pg.create_database()
        try:
            upgrade(url)
            yield Template("postgresql", url)
        finally:
            pg.drop_database(url)
        return
    path = tmp_path_factory.mktemp("template") / "template.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    yield Template("sqlite", url, path)


@pytest.fixture
async def database_url(template: Template, tmp_path: Path) -> str:
    if template.path is None:
        await pg.truncate_all(template.url)
        return template.url
    path = tmp_path / "roster.db"
    await asyncio.to_thread(shutil.copyfile, template.path, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def empty_database_url(template: Template, tmp_path: Path) -> Iterator[str]:
    """A database of the backend under test that no migration has touched, for this test."""
    if template.path is None:
        url = pg.create_database()
        try:
            yield url
        finally:
            pg.drop_database(url)
        return
    yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        **FAST_HASHING.as_settings(),
        prometheus_multiproc_dir=str(tmp_path / "metrics"),
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Quart]:
    application = create_app(settings)
    async with application.test_app():
        yield application


@pytest.fixture
def client(app: Quart) -> Client:
    return app.test_client()


@pytest.fixture
def accounts(app: Quart, client: Client) -> Accounts:
    return Accounts(app, client)


@pytest.fixture
async def alice(accounts: Accounts) -> Account:
    """A user with a live token."""
    return await accounts.user("Alice")


@pytest.fixture
async def admin(accounts: Accounts) -> Account:
    """An admin with a live token."""
    return await accounts.admin()


@pytest.fixture
def smtp() -> Iterator[MailServer]:
    """A real SMTP server on a free loopback port, keeping what it is sent."""
    with mail_server() as server:
        yield server


def with_settings(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update=changes)

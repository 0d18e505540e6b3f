"""Roster's pytest plugin (the `roster` entry point of `pytest11`): fixtures for teams that test
their application against a real Roster. Installed with `roster-api`; the fixtures that hand
out clients need `roster-client` too.

- `roster_server` (session): hypercorn serving Roster on a free 127.0.0.1 port, on a fresh
  SQLite file (or the PostgreSQL database of `--roster-database-url`), migrated, with cheap
  argon2 parameters; stopped at the end of the session.
- `roster`: a `RosterClient` bound to it, logged out.
- `roster_user` / `roster_admin`: factories, `await roster_user(name=..., email=...)` returns
  a `LoggedIn` (the user, its password and a client logged in as it); registered users are
  unverified unless `verified=True`, admins (made as `roster create-user` makes them) verified.
- `roster_key`: a factory of API keys, `await roster_key("users:read")` returns a `Keyed`
  (the key, its owner, and a client that sends the key).
- `roster_mail`: the messages Roster sent since the test began, through a real SMTP server
  on loopback (aiosmtpd, from the `testing` extra) that `roster_server` sends to:
  `(await roster_mail.wait_for("ada@example.com"))[0].token` (or `.link`, `.subject`, `.body`).
- `roster_reset`: empties Roster (users, sessions, idempotency keys, login attempts, mail)
  without a restart; request it in a test, or from an autouse fixture of your own.
- `roster_app` / `roster_test_client`: Roster in process, through Quart's test app.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text

from ..app import create_app
from ..db.audit import CLI
from ..db.connect import create_engine, open_database
from ..db.migrations import upgrade
from ..domain.passwords import Passwords
from ..domain.users import create_user
from ..settings import PasswordHashing, Settings
from . import server as harness

try:
    from pytest_asyncio import fixture as async_fixture
except ImportError:  # the async fixtures then need pytest-asyncio; pytest itself still runs
    async_fixture = pytest.fixture  # type: ignore[assignment]

if TYPE_CHECKING:
    from quart import Quart
    from quart.typing import TestClientProtocol
    from roster_client import NewKey, RosterClient, User

    from .mailbox import Mailbox, MailServer

# Cheap on purpose: tests create many users; production keeps its own parameters.
TEST_HASHING = PasswordHashing(memory_kib=1024, time_cost=1, parallelism=1, workers=2, niceness=10)
TEST_HASHING_ENV = {"ARGON2_MEMORY_KIB": "1024", "ARGON2_TIME_COST": "1"}
PASSWORD = "roster-test-password"  # noqa: S105 -- the factories' default password
# What `roster_reset` empties, children first; the schema and the cursor key stay.
DATA_TABLES = (
    "tokens",
    "api_keys",
    "idempotency_keys",
    "login_attempts",
    "login_addresses",
    "mail_tokens",
    "mail_outbox",
    "users",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("roster")
    group.addoption(
        "--roster-database-url",
        default=None,
        help="PostgreSQL (postgresql+asyncpg://…) for roster_server instead of a fresh SQLite "
        "file; it is migrated, and roster_reset empties its tables",
    )


@dataclass(frozen=True)
class RosterServer:
    base_url: str
    database_url: str
    process: harness.Server

    @property
    def settings(self) -> Settings:
        return Settings(database_url=self.database_url, **TEST_HASHING.as_settings())


@dataclass(frozen=True)
class LoggedIn:
    """A user made by a factory fixture, and a client logged in as them."""

    user: User
    password: str
    client: RosterClient


@pytest.fixture(scope="session")
def roster_mail_server() -> Iterator[MailServer | None]:
    """The SMTP server `roster_server` sends to (None without aiosmtpd: mail is then logged)."""
    try:
        from .mailbox import mail_server
    except ImportError:
        yield None
        return
    with mail_server() as server:
        yield server


@pytest.fixture
def roster_mail(roster_mail_server: MailServer | None) -> Mailbox:
    if roster_mail_server is None:
        pytest.fail("roster_mail needs aiosmtpd: pip install 'roster-api[testing]'")
    from .mailbox import Mailbox

    return Mailbox(roster_mail_server)


@pytest.fixture(scope="session")
def roster_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    roster_mail_server: MailServer | None,
) -> Iterator[RosterServer]:
    directory = tmp_path_factory.mktemp("roster")
    url = request.config.getoption("--roster-database-url") or (
        f"sqlite+aiosqlite:///{directory / 'roster.db'}"
    )
    upgrade(url)
    port = harness.free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "LOG_LEVEL": "WARNING",
        "TMPDIR": str(directory),  # its metrics go with the rest of the session's files
        "MAIL_URL": "log:" if roster_mail_server is None else roster_mail_server.url,
        "MAIL_POLL_SECONDS": "0.2",  # a reset request's message within a moment
        **TEST_HASHING_ENV,
    }
    command = harness.hypercorn_command(port)
    with harness.running(command, port, directory / "server.log", env=env) as process:
        yield RosterServer(process.base_url, url, process)


@async_fixture
async def roster(roster_server: RosterServer) -> AsyncIterator[RosterClient]:
    from roster_client import RosterClient

    async with RosterClient(roster_server.base_url) as client:
        yield client


Factory = Callable[..., Awaitable[LoggedIn]]


@dataclass(frozen=True)
class Keyed:
    """A key made by `roster_key`, its owner, and a client that sends the key."""

    key: NewKey  # `.key` is the secret
    owner: LoggedIn
    client: RosterClient


KeyFactory = Callable[..., Awaitable[Keyed]]
ADMIN_SCOPES = ("audit:read", "tokens:introspect")


@async_fixture
async def roster_user(roster_server: RosterServer) -> AsyncIterator[Factory]:
    """`await roster_user(name="Ada", email=None, password=PASSWORD)`: registered over the API,
    then logged in."""
    async with _Factory(roster_server) as factory:
        yield factory.user


@async_fixture
async def roster_admin(roster_server: RosterServer) -> AsyncIterator[Factory]:
    """`await roster_admin(name="Admin")`: made as `roster create-user --admin` makes one."""
    async with _Factory(roster_server) as factory:
        yield factory.admin


@async_fixture
async def roster_key(roster_server: RosterServer) -> AsyncIterator[KeyFactory]:
    """`await roster_key("users:read", owner=None)`: an API key with these scopes, of `owner`
    (a `LoggedIn`; by default a new user, or a new admin when a scope needs one)."""
    async with _Factory(roster_server) as factory:
        yield factory.key


@async_fixture
async def roster_reset(roster_server: RosterServer) -> None:
    """Empty Roster's data (not its schema) before the test that asks for it."""
    engine = create_engine(roster_server.settings)
    try:
        async with engine.begin() as connection:
            for table in DATA_TABLES:
                await connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608 (constants)
    finally:
        await engine.dispose()


@async_fixture
async def roster_app(tmp_path: Path) -> AsyncIterator[Quart]:
    """Roster in process on a fresh, migrated SQLite file, serving through `app.test_app()`
    (so its start-up runs, unlike a bare `test_client()`)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'roster-app.db'}"
    await asyncio.to_thread(upgrade, url)
    metrics = str(tmp_path / "roster-metrics")
    settings = Settings(
        database_url=url, prometheus_multiproc_dir=metrics, **TEST_HASHING.as_settings()
    )
    app = create_app(settings)
    async with app.test_app():
        yield app


@pytest.fixture
def roster_test_client(roster_app: Quart) -> TestClientProtocol:
    return roster_app.test_client()


class _Factory:
    def __init__(self, server: RosterServer) -> None:
        self._server = server
        self._clients: list[RosterClient] = []

    async def __aenter__(self) -> _Factory:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        for client in self._clients:
            await client.close()

    async def user(
        self,
        name: str = "Test User",
        email: str | None = None,
        password: str = PASSWORD,
        verified: bool = False,
    ) -> LoggedIn:
        client = self._client()
        email = email or _unique_email("user")
        user = await client.users.create(name, email, password)
        if verified:  # as if the registration's message had been confirmed
            await self._mark_verified(user.id)
        await client.login(email, password)
        return LoggedIn(await client.profile(), password, client)

    async def _mark_verified(self, user_id: int) -> None:
        engine = create_engine(self._server.settings)
        try:
            async with engine.begin() as connection:
                statement = text("UPDATE users SET email_verified = true WHERE id = :id")
                await connection.execute(statement, {"id": user_id})
        finally:
            await engine.dispose()

    async def admin(self, name: str = "Test Admin", password: str = PASSWORD) -> LoggedIn:
        email = _unique_email("admin")
        settings = self._server.settings
        db = open_database(settings)
        passwords = Passwords(settings.password_hashing)
        try:
            await create_user(db, passwords, name, email, password, "admin", CLI)
        finally:
            passwords.close()
            await db.close()
        client = self._client()
        await client.login(email, password)
        return LoggedIn(await client.profile(), password, client)

    async def key(
        self, *scopes: str, owner: LoggedIn | None = None, name: str = "test key"
    ) -> Keyed:
        scopes = scopes or ("users:read",)
        if owner is None:
            needs_admin = any(scope in ADMIN_SCOPES for scope in scopes)
            owner = await (self.admin() if needs_admin else self.user())
        created = await owner.client.keys.create(name, list(scopes))
        return Keyed(created, owner, self._client(api_key=created.key))

    def _client(self, api_key: str | None = None) -> RosterClient:
        from roster_client import RosterClient

        client = RosterClient(self._server.base_url, api_key=api_key)
        self._clients.append(client)
        return client


def _unique_email(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:12]}@example.com"

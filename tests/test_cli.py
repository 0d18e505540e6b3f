"""The `roster` command line, run as a client runs it: a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

import roster
from roster.app import create_app
from roster.settings import Settings, SettingsError

from . import pg
from .helpers import FIELDS, PASSWORD, unique_email
from .server import FAST_HASHING_ENV, REPOSITORY

ROSTER = Path(sys.executable).parent / "roster"
TIMEOUT = 60.0


def run(
    *args: str, database_url: str, env: Mapping[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DATABASE_URL": database_url, **FAST_HASHING_ENV, **(env or {})}
    return subprocess.run(
        [str(ROSTER), *args],
        cwd=REPOSITORY,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def tables(path: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(path)) as connection:  # `with` alone leaves it open
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows}


def schema_version(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as connection:  # `with` alone leaves it open
        return [row[0] for row in connection.execute("SELECT version_num FROM alembic_version")]


def test_migrate_creates_the_schema_and_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    url = f"sqlite+aiosqlite:///{path}"

    first = run("migrate", database_url=url)
    assert first.returncode == 0, first.stderr
    assert {"users", "tokens", "alembic_version"} <= tables(path)
    version = schema_version(path)
    assert len(version) == 1

    again = run("migrate", database_url=url)
    assert again.returncode == 0, again.stderr
    assert schema_version(path) == version
    assert {"users", "tokens", "alembic_version"} <= tables(path)


def create_user(
    database_url: str, email: str, password: str = PASSWORD, *extra: str
) -> subprocess.CompletedProcess[str]:
    return run(
        "create-user",
        "--name",
        "Ada Admin",
        "--email",
        email,
        "--password",
        password,
        *extra,
        database_url=database_url,
    )


def test_create_admin_prints_it_and_refuses_a_duplicate(database_url: str) -> None:
    email = unique_email("Admin")
    created = create_user(database_url, f"  {email.upper()} ", PASSWORD, "--admin")
    assert created.returncode == 0, created.stderr
    user = json.loads(created.stdout)
    assert user["role"] == "admin"
    assert user["name"] == "Ada Admin"
    assert user["email"] == email.lower()
    assert isinstance(user["id"], int)
    assert user["id"] > 0
    assert set(user) == FIELDS
    assert user["email_verified"] is True  # an operator's user: no mail to prove it

    duplicate = create_user(database_url, email.lower())
    assert duplicate.returncode == 1
    assert duplicate.stdout == ""
    assert "already exists" in duplicate.stderr
    assert email.lower() in duplicate.stderr
    assert "Traceback" not in duplicate.stderr


def test_create_user_without_admin_makes_a_user(database_url: str) -> None:
    created = create_user(database_url, unique_email())
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["role"] == "user"


@pytest.mark.parametrize(
    ("email", "password", "field"),
    [
        pytest.param("not-an-email", PASSWORD, "email", id="invalid-email"),
        pytest.param("ada@example.com", "short", "password", id="short-password"),
    ],
)
def test_create_user_rejects_invalid_values(
    database_url: str, email: str, password: str, field: str
) -> None:
    result = create_user(database_url, email, password)
    assert result.returncode == 1
    assert result.stdout == ""
    message = result.stderr.strip()
    assert message.startswith("roster: invalid value")
    assert field in message
    assert "Traceback" not in result.stderr


def test_python_dash_m_roster_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "roster", "--help"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for command in ("migrate", "create-user", "serve"):
        assert command in result.stdout


def test_version_is_the_package_version(database_url: str) -> None:
    result = run("--version", database_url=database_url)
    assert result.returncode == 0
    assert result.stdout.strip() == f"roster {roster.__version__}"


def test_create_user_on_an_unmigrated_database_says_to_migrate(empty_database_url: str) -> None:
    result = create_user(empty_database_url, unique_email())
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "roster: the database is not ready: Not migrated: run `roster migrate`"
    )


def test_an_unreachable_database_is_a_message_not_a_traceback() -> None:
    unreachable = "postgresql+asyncpg://postgres@127.0.0.1:9/roster"  # port 9: nothing listens
    for args in (
        ("migrate",),
        ("create-user", "--name", "A", "--email", unique_email(), "--password", PASSWORD),
    ):
        result = run(*args, database_url=unreachable, env={"DB_CONNECT_TIMEOUT": "2"})
        assert result.returncode == 1, args
        assert result.stderr.startswith("roster: cannot reach the database"), result.stderr
        assert "Traceback" not in result.stderr


# --- the password never only on the command line -------------------------------------------


@pytest.mark.parametrize("source", ["stdin", "environment"])
def test_create_user_takes_the_password_off_the_command_line(
    database_url: str, source: str
) -> None:
    """`ps` and shell history see the command line: the password can come another way."""
    email = unique_email("quiet")
    args = ("create-user", "--name", "Quiet", "--email", email)
    if source == "stdin":
        created = run(*args, "--password-stdin", database_url=database_url, stdin=PASSWORD + "\n")
    else:
        created = run(*args, database_url=database_url, env={"ROSTER_PASSWORD": PASSWORD})
    assert created.returncode == 0, created.stderr
    assert PASSWORD not in created.stdout + created.stderr
    login = run_login(database_url, email, PASSWORD)
    assert login == 201


def test_create_user_without_a_password_says_where_to_give_one(database_url: str) -> None:
    env = {key: value for key, value in os.environ.items() if key != "ROSTER_PASSWORD"}
    created = subprocess.run(
        [str(ROSTER), "create-user", "--name", "N", "--email", unique_email()],
        cwd=REPOSITORY,
        env={**env, "DATABASE_URL": database_url},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert created.returncode == 1
    assert created.stderr.startswith("roster: no password:")
    assert "--password-stdin" in created.stderr


def run_login(database_url: str, email: str, password: str) -> int:
    """The status of a login with these credentials, in process."""

    async def attempt() -> int:
        app = create_app(Settings(database_url=database_url, metrics_enabled=False))
        async with app.test_app():
            body = {"email": email, "password": password}
            return (await app.test_client().post("/api/tokens", json=body)).status_code

    return asyncio.run(attempt())


# --- start-up mistakes: one line, naming the variable ----------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://root@127.0.0.1/roster", "roster: DATABASE_URL must be"),
        ("sqlite:////no/such/folder/roster.db", "roster: DATABASE_URL: cannot open the SQLite"),
        ("postgresql://postgres@127.0.0.1:1/test", "roster: cannot reach the database at"),
        (
            "postgres://postgres@127.0.0.1:5432/roster_no_such_database",
            "roster: DATABASE_URL names database 'roster_no_such_database', which does not exist",
        ),
    ],
)
def test_a_database_url_mistake_is_one_line(url: str, expected: str) -> None:
    if "5432" in url and pg.unavailable_reason() is not None:
        pytest.skip("needs the PostgreSQL server")
    result = run("migrate", database_url=url)
    assert result.returncode == 1
    assert result.stderr.startswith(expected), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgres://postgres@127.0.0.1:5432/test", "postgresql+asyncpg://"),
        ("postgresql://postgres@127.0.0.1:5432/test", "postgresql+asyncpg://"),
        ("sqlite:///./roster.db", "sqlite+aiosqlite:///"),
    ],
)
def test_urls_other_tools_write_are_understood(url: str, driver: str) -> None:
    assert Settings.from_env({"DATABASE_URL": url}).database_url.startswith(driver)


def test_variables_of_earlier_releases_are_refused_with_what_replaced_them() -> None:
    result = run("migrate", database_url="sqlite:///x.db", env={"DB_POOL_SIZE": "20"})
    assert result.returncode == 1
    assert result.stderr.startswith("roster: DB_POOL_SIZE is gone: set DB_CONNECTIONS")


async def test_create_user_records_its_event_with_the_cli_credential(database_url: str) -> None:
    email = unique_email("auditor")
    created = create_user(database_url, email, PASSWORD, "--admin")
    assert created.returncode == 0, created.stderr
    assert create_user(database_url, email).returncode == 1  # a duplicate: no event
    user_id = json.loads(created.stdout)["id"]
    app = create_app(Settings(database_url=database_url, metrics_enabled=False))
    async with app.test_app() as running:
        client = running.test_client()
        login = await client.post("/api/tokens", json={"email": email, "password": PASSWORD})
        token = (await login.get_json())["data"]["token"]
        response = await client.get(
            "/api/audit-events",
            query_string={"type": "user.created"},
            headers={"Authorization": f"Bearer {token}"},
        )
    [event] = (await response.get_json())["data"]
    assert event["target_id"] == user_id
    assert event["credential"] == {"kind": "cli", "id": None}
    assert event["actor_id"] is None
    assert event["details"] == {"role": "admin"}


def test_every_setting_is_in_the_readmes_configuration_table() -> None:
    """An operator finds every variable Roster reads where the README lists them."""
    readme = (REPOSITORY / "README.md").read_text()
    listed = {line.split("`")[1] for line in readme.splitlines() if line.startswith("| `")}
    assert {name.upper() for name in Settings.model_fields} <= listed


@pytest.mark.parametrize(("value", "valid"), [("0", True), ("0.2", True), ("-1", False)])
def test_log_batch_seconds_is_read_and_checked(value: str, valid: bool) -> None:
    if valid:
        assert Settings.from_env({"LOG_BATCH_SECONDS": value}).log_batch_seconds == float(value)
    else:
        with pytest.raises(SettingsError, match="LOG_BATCH_SECONDS"):
            Settings.from_env({"LOG_BATCH_SECONDS": value})

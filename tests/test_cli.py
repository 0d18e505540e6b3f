"""The `roster` command line, run as a client runs it: a subprocess."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

import roster

from .helpers import PASSWORD, unique_email
from .server import FAST_HASHING_ENV, REPOSITORY

ROSTER = Path(sys.executable).parent / "roster"
TIMEOUT = 60.0


def run(
    *args: str, database_url: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DATABASE_URL": database_url, **FAST_HASHING_ENV, **(env or {})}
    return subprocess.run(
        [str(ROSTER), *args],
        cwd=REPOSITORY,
        env=environment,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows}


def schema_version(path: Path) -> list[str]:
    with sqlite3.connect(path) as connection:
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
    assert set(user) == {"id", "name", "email", "role", "status", "created_at", "updated_at"}

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

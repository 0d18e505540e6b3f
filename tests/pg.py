"""PostgreSQL for the tests: one database per test run, emptied before each test."""

from __future__ import annotations

import asyncio
import os
import uuid

import asyncpg
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get(
    "ROSTER_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
TABLES = ("tokens", "users")


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def unavailable_reason() -> str | None:
    async def probe() -> None:
        connection = await asyncpg.connect(_dsn(ADMIN_URL), timeout=3)
        await connection.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        return f"no server at {make_url(ADMIN_URL).render_as_string()} ({error})"
    return None


def create_database() -> str:
    name = f"roster_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    name = make_url(url).database
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def truncate_all(url: str) -> None:
    connection = await asyncpg.connect(_dsn(url))
    try:
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'"
        )
        names = ", ".join(f'"{row["tablename"]}"' for row in tables)
        if names:
            await connection.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await connection.close()


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(_dsn(ADMIN_URL))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()

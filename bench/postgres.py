"""A fresh database on the local PostgreSQL server for one benchmark run, and its removal."""

from __future__ import annotations

import asyncio
import os

import asyncpg

ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def create_database(suffix: str = "") -> str:
    """A new empty database (one per `suffix` in a run); its SQLAlchemy URL."""
    name = f"roster_bench_{os.getpid()}{suffix}"
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


def through_pgbouncer(url: str, port: int = 6432) -> str:
    """The same database through PgBouncer on the local host."""
    return url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{port}/")


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def admin(statement: str) -> None:
    """Run one statement on the server's `test` database (CREATE/DROP DATABASE)."""
    connection = await asyncpg.connect(ADMIN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()

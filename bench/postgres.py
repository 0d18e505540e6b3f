"""A fresh database on the local PostgreSQL server for one benchmark run, and its removal."""

from __future__ import annotations

import asyncio
import os

import asyncpg

ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def create_database() -> str:
    """A new empty database; its SQLAlchemy URL."""
    name = f"roster_bench_{os.getpid()}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(ADMIN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()

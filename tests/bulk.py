"""Rows written as a bulk import writes them: plain SQL of the v1 columns, no Roster code."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import bindparam, text

from roster.db.connect import create_engine
from roster.db.models import UtcDateTime
from roster.settings import Settings

V1_INSERT = text(
    "INSERT INTO users (name, email, password_hash, role, created_at, updated_at) "
    "VALUES (:name, :email, 'not-a-hash', :role, :now, :now)"
).bindparams(bindparam("now", type_=UtcDateTime))  # as the column stores it, not sqlite3's way


async def import_users(url: str, users: Sequence[tuple[str, str]], role: str = "user") -> None:
    """Insert (name, email) rows in one transaction."""
    engine = create_engine(Settings(database_url=url))
    now = datetime.now(UTC)
    rows = [{"name": name, "email": email, "role": role, "now": now} for name, email in users]
    try:
        async with engine.begin() as connection:
            await connection.execute(V1_INSERT, rows)
    finally:
        await engine.dispose()


async def execute(url: str, statement: str) -> None:
    engine = create_engine(Settings(database_url=url))
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()

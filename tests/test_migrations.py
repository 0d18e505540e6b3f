"""Alembic: the migrations build exactly the models' schema, and go down and up again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from alembic import command
from service.db import create_engine
from service.migrations import alembic_config, upgrade
from service.models import Base
from service.settings import Settings

from . import pg
from .server import TemplateLike

APP_TABLES = {"users", "tokens", "idempotency_keys", "login_attempts"}


def _differences(connection: Connection) -> list[Any]:
    diff: list[Any] = compare_metadata(MigrationContext.configure(connection), Base.metadata)
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


@pytest.fixture
def scratch_database_url(template: TemplateLike, tmp_path: Path) -> Iterator[str]:
    """An empty database of the current backend, only for this test."""
    if template.path is None:
        url = pg.create_database()
        try:
            yield url
        finally:
            pg.drop_database(url)
        return
    yield f"sqlite+aiosqlite:///{tmp_path / 'scratch.db'}"


def test_downgrade_to_base_then_upgrade_to_head(scratch_database_url: str) -> None:
    # Alembic's env.py runs its own event loop: this test is synchronous on purpose.
    url = scratch_database_url
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

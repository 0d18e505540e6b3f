"""How Roster reaches a database: `open_database` for the service (the backend's `Database`),
`create_engine` for migrations and tools (a plain async engine with the same pragmas and bounds).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ..serving.draining import WorkGate
from ..serving.metrics import Metrics
from ..settings import Settings
from . import postgresql, sqlite
from .database import Database


def open_database(
    settings: Settings, metrics: Metrics | None = None, gate: WorkGate | None = None
) -> Database:
    """The database of `settings`; nothing connects until the first unit of work."""
    if settings.is_sqlite:
        return sqlite.SQLiteDatabase(settings, metrics, gate)
    return postgresql.PostgreSQLDatabase(settings, metrics, gate)


def create_engine(settings: Settings) -> AsyncEngine:
    """An async engine on the database of `settings`, for migrations and tools."""
    if not settings.is_sqlite:
        return create_async_engine(
            settings.database_url,
            pool_pre_ping=True,
            connect_args=postgresql.connect_args(settings),
        )
    engine = create_async_engine(
        settings.database_url, connect_args={"timeout": settings.db_busy_timeout_ms / 1000}
    )
    sqlite.configure(engine.sync_engine, settings.db_busy_timeout_ms)
    return engine

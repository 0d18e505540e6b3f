"""What a serving app holds while it runs: settings, database engine and sessions, hasher."""

from __future__ import annotations

from dataclasses import dataclass

from quart import current_app, g
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from .db import create_engine, create_session_factory
from .passwords import Passwords
from .settings import Settings

EXTENSION = "roster"


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    passwords: Passwords

    @classmethod
    def start(cls, settings: Settings) -> Runtime:
        engine = create_engine(settings)
        return cls(
            settings=settings,
            engine=engine,
            sessions=create_session_factory(engine, settings),
            passwords=Passwords(settings.password_hashing),
        )

    async def stop(self) -> None:
        await self.engine.dispose()
        self.passwords.close()


def runtime() -> Runtime:
    value: Runtime = current_app.extensions[EXTENSION]
    return value


def db_session() -> AsyncSession:
    """The request's session, opened on first use and closed when the request ends."""
    session: AsyncSession | None = g.get("db_session")
    if session is None:
        session = runtime().sessions()
        g.db_session = session
    return session


async def close_db_session() -> None:
    session: AsyncSession | None = g.pop("db_session", None)
    if session is not None:
        await session.close()

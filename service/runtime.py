"""What a serving app holds while it runs: settings, database engine and sessions, hasher."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from quart import current_app, g
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from .db import Reader, create_engine, create_session_factory
from .maintenance import purge_forever
from .passwords import Passwords
from .settings import Settings

EXTENSION = "roster"


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    read: Reader
    passwords: Passwords
    housekeeping: asyncio.Task[None]

    @classmethod
    def start(cls, settings: Settings) -> Runtime:
        """Called once the event loop runs (before serving): nothing here connects yet."""
        engine = create_engine(settings)
        sessions = create_session_factory(engine, settings)
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            read=Reader(engine, settings),
            passwords=Passwords(settings.password_hashing),
            housekeeping=asyncio.create_task(purge_forever(sessions, settings)),
        )

    async def stop(self) -> None:
        self.housekeeping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.housekeeping
        self.read.close()
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

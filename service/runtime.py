"""What a serving app holds while it runs: settings, the database, the password hasher."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from quart import current_app
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from .db import Database
from .maintenance import purge_forever
from .passwords import Passwords
from .settings import Settings

EXTENSION = "roster"


@dataclass
class Runtime:
    settings: Settings
    db: Database
    passwords: Passwords
    housekeeping: asyncio.Task[None]

    @classmethod
    def start(cls, settings: Settings) -> Runtime:
        """Called once the event loop runs (before serving): nothing here connects yet."""
        db = Database(settings)
        return cls(
            settings=settings,
            db=db,
            passwords=Passwords(settings.password_hashing),
            housekeeping=asyncio.create_task(purge_forever(db, settings)),
        )

    @property
    def engine(self) -> AsyncEngine:
        """The async engine, for tools and tests that inspect the database directly."""
        return self.db.engine

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        """Async sessions on the database, for tools and tests that inspect it directly."""
        return self.db.sessions

    async def stop(self) -> None:
        self.housekeeping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.housekeeping
        await self.db.close()
        self.passwords.close()


def runtime() -> Runtime:
    value: Runtime = current_app.extensions[EXTENSION]
    return value

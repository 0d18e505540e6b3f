"""What a serving app holds while it runs: settings, metrics, the drain's gate, the database,
the password hasher, the list cursors' signer, the sessions' use notes and the housekeeping
task. Built when serving starts, not at import."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from .db.database import Database
from .domain.cursors import Cursors
from .domain.housekeeping import purge_forever
from .domain.passwords import Passwords
from .domain.sessions import Touches
from .serving.draining import WorkGate
from .serving.metrics import Metrics, PrometheusMetrics, metrics_directory
from .settings import Settings


@dataclass
class Runtime:
    settings: Settings
    metrics: Metrics
    gate: WorkGate
    db: Database
    passwords: Passwords
    cursors: Cursors
    touches: Touches
    housekeeping: asyncio.Task[None]

    @classmethod
    async def start(cls, settings: Settings) -> Runtime:
        """Called once the event loop runs (before serving): nothing here connects yet."""
        metrics: Metrics = Metrics()
        if settings.metrics_enabled:
            metrics = PrometheusMetrics(metrics_directory(settings.prometheus_multiproc_dir))
        gate = WorkGate(settings.retry_after_seconds)
        db = Database(settings, metrics, gate)
        passwords = Passwords(settings.password_hashing, metrics, gate)
        await passwords.start()
        touches = Touches(db, settings.token_touch_seconds)
        touches.start()
        return cls(
            settings=settings,
            metrics=metrics,
            gate=gate,
            db=db,
            passwords=passwords,
            cursors=Cursors(db),
            touches=touches,
            housekeeping=asyncio.create_task(purge_forever(db, settings)),
        )

    def drain(self, seconds: float) -> None:
        """Shutdown has begun: requests that have not begun work by `seconds` from now get
        503; the rest finish."""
        asyncio.get_running_loop().call_later(seconds, self.gate.close)

    async def stop(self) -> None:
        self.housekeeping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.housekeeping
        await self.touches.stop()
        await self.db.close()
        self.passwords.close()
        self.metrics.close()

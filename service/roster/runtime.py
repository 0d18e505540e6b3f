"""What a serving app holds: settings, metrics, the drain's gate, the database, the password
hasher, the list cursors' signer, the sessions' use notes, the mail sender (and what verification
mail needs) and the housekeeping task.

Built by `create_app` (nothing connects then); `start` begins the background work once the
event loop runs, `stop` ends it. Handlers are given it (`runtime=`), never look it up.
"""

from __future__ import annotations

import asyncio

from .db.connect import open_database
from .db.cursors import Cursors
from .db.migrations import schema_problem
from .domain.delivery import SEND_TIMEOUT_SECONDS, Sender
from .domain.housekeeping import purge_forever
from .domain.passwords import Passwords
from .domain.sessions import Touches
from .domain.verification import Verifications
from .mail.transports import transport_for
from .serving.draining import WorkGate
from .serving.logs import flush_logs
from .serving.metrics import Metrics, PrometheusMetrics, metrics_directory
from .serving.tasks import cancel_and_wait
from .settings import Settings


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        if settings.metrics_enabled:
            directory = metrics_directory(settings.prometheus_multiproc_dir)
            self.metrics = PrometheusMetrics(directory, settings.metrics_batch_seconds)
        self.gate = WorkGate(settings.retry_after_seconds)
        self.db = open_database(settings, self.metrics, self.gate)
        self.passwords = Passwords(settings.password_hashing, self.metrics, self.gate)
        self.cursors = Cursors(self.db)
        self.touches = Touches(self.db, settings.token_touch_seconds)
        self.key_touches = Touches(self.db, settings.token_touch_seconds, keys=True)
        transport = transport_for(settings.mail_url, SEND_TIMEOUT_SECONDS)
        self.mail = Sender(self.db, transport, settings, self.metrics)
        self.verifications = Verifications(settings, self.mail)
        self._housekeeping: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """The event loop runs (before serving): background work begins; nothing connects yet."""
        for kind, capacity in self.db.capacity().items():
            self.metrics.db_capacity(kind, capacity)
        self.metrics.start()
        await self.passwords.start()
        self.touches.start()
        self.key_touches.start()
        self.mail.start()
        self._housekeeping = asyncio.create_task(purge_forever(self.db, self.settings))

    async def schema_problem(self) -> str | None:
        """Why the database cannot serve this release (not migrated, or by an older
        release), or None; read the way requests read, within the connect timeout."""
        revision = await asyncio.wait_for(
            self.db.schema_revision(), self.settings.db_connect_timeout
        )
        return schema_problem(revision)

    def drain(self, seconds: float) -> None:
        """Shutdown has begun: requests that have not begun work by `seconds` from now get
        503; the rest finish."""
        asyncio.get_running_loop().call_later(seconds, self.gate.close)

    async def stop(self) -> None:
        await cancel_and_wait(self._housekeeping)
        await self.mail.stop()
        await self.touches.stop()
        await self.key_touches.stop()
        await self.db.close()
        self.passwords.close()
        await self.metrics.stop()
        await asyncio.to_thread(flush_logs)  # its last lines written before it is gone

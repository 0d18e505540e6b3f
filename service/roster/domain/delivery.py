"""Delivery of the mail outbox (docs/API.md §6, Delivery): every serving process runs a sender
that claims due messages, hands each to the transport, and records what happened.

At least once, never zero times: a message is marked sent only after the mail server took it,
so a process killed in between leaves it claimed until its lease runs out, and then another
sender (or the same one, restarted) sends it again. A failed attempt is tried again after 10 s,
then twice as long each time, at most an hour apart, until 48 h after the message was written;
then it is given up, and counted. A message the server refuses for good (a 5xx reply, such as
an unknown mailbox) is given up at once: asking again for two days cannot change the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta

from ..db import outbox
from ..db.database import Database
from ..db.outage import is_schema_missing, is_unavailable, reason
from ..db.outbox import Claimed
from ..mail.messages import Mail, email_message, envelope
from ..mail.transports import Transport, Undelivered
from ..serving.metrics import Metrics
from ..serving.tasks import cancel_and_wait
from ..settings import Settings
from . import recovery

logger = logging.getLogger("roster.mail")
FIRST_RETRY = timedelta(seconds=10)
LONGEST_RETRY = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(hours=48)
SEND_TIMEOUT_SECONDS = 30.0  # connecting, and each reply of the mail server
LEASE = timedelta(seconds=4 * SEND_TIMEOUT_SECONDS)  # longer than any send may take
BATCH = 20  # messages claimed at once
SENDING_AT_ONCE = 4  # connections to the mail server at once, per process
WARN_EVERY_SECONDS = 60.0
STOP_WAIT_SECONDS = 3.0  # at shutdown, how long the round in progress may take to end
# Who writes the message of a request queued without one, by its kind (None: nothing to send).
PREPARERS = {recovery.PASSWORD_RESET: recovery.prepare}


def retry_at(claimed: Claimed, now: datetime) -> datetime | None:
    """When a message that failed its attempt is tried again (None: it is given up)."""
    delay: timedelta = min(FIRST_RETRY * 2**claimed.attempts, LONGEST_RETRY)
    again: datetime = now + delay
    return None if again > claimed.created_at + GIVE_UP_AFTER else again


class Sender:
    """This process's sender: `start` it once the event loop runs, `written` after a commit that
    queued a message, `stop` it at shutdown."""

    def __init__(
        self, db: Database, transport: Transport, settings: Settings, metrics: Metrics
    ) -> None:
        self.db = db
        self.transport = transport
        self.settings = settings
        self.metrics = metrics
        self._wake = asyncio.Event()
        self._sending = asyncio.Semaphore(SENDING_AT_ONCE)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._last_warning = -WARN_EVERY_SECONDS

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Let the round in progress end, for at most STOP_WAIT_SECONDS, then cancel it: a
        round cancelled between a send and its record sends that message again later, and a
        write cancelled mid-statement leaves its connection to be cleaned up at length."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), STOP_WAIT_SECONDS)
        except TimeoutError:
            await cancel_and_wait(self._task)

    def written(self, messages: int = 1, *, at_once: bool = True) -> None:
        """`messages` were committed to the outbox here: sent now (`at_once`), or at the next
        look (MAIL_POLL_SECONDS), which no request waits for."""
        for _ in range(messages):
            self.metrics.mail("queued")
        if at_once:
            self._wake.set()

    async def deliver_due(self) -> int:
        """Claim the messages due now and send them; how many were claimed."""
        now = datetime.now(UTC)
        if not await self.db.read(outbox.any_due, now):
            return 0
        claimed = await self.db.write(outbox.claim, now, LEASE, BATCH)
        await asyncio.gather(*(self._deliver(message) for message in claimed))
        return len(claimed)

    async def _deliver(self, claimed: Claimed) -> None:
        if not claimed.written:  # a request: its message is written now, or there is none
            prepared = await self.db.write(
                PREPARERS[claimed.kind], claimed, self.settings, datetime.now(UTC)
            )
            if prepared is None:
                return
            claimed = prepared
        async with self._sending:
            try:
                reply = await send_now(self.transport, self.settings, claimed.mail)
            except Undelivered as error:
                await self._failed(claimed, str(error), error.permanent)
                return
            except Exception as error:  # a message that cannot be built: logged, tried again
                logger.exception("mail %d could not be sent", claimed.id)
                await self._failed(claimed, repr(error), permanent=False)
                return
        await self.db.write(outbox.record_sent, claimed, datetime.now(UTC))
        self.metrics.mail("sent")
        logger.info("mail %d sent to %s: %s", claimed.id, claimed.mail.to, reply.strip())

    async def _failed(self, claimed: Claimed, reason: str, permanent: bool) -> None:
        now = datetime.now(UTC)
        again = None if permanent else retry_at(claimed, now)
        await self.db.write(outbox.record_failure, claimed, reason, again)
        self.metrics.mail("failed")
        if again is None:
            self.metrics.mail("given_up")
            logger.error("mail %d to %s given up: %s", claimed.id, claimed.mail.to, reason)
        else:
            logger.warning(
                "mail %d to %s not sent (%s); again at %s",
                claimed.id,
                claimed.mail.to,
                reason,
                again.isoformat(timespec="seconds"),
            )

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()  # what is written from here on wakes the wait below
            try:
                while await self.deliver_due() == BATCH and not self._stopping:
                    pass  # more may be due at once
                await self._note_backlog()
            except Exception as error:  # the next round tries again
                self._round_failed(error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.mail_poll_seconds)

    def _round_failed(self, error: Exception) -> None:
        """Logged once a minute at most: a database that is away, or not migrated yet, is
        said in one line; anything else with its traceback."""
        now = time.monotonic()
        if now - self._last_warning < WARN_EVERY_SECONDS:
            return
        self._last_warning = now
        if is_unavailable(error) or is_schema_missing(error):
            logger.warning("mail delivery waits for the database: %s", reason(error))
        else:
            logger.warning("mail delivery round failed; will retry", exc_info=error)

    async def _note_backlog(self) -> None:
        oldest = await self.db.read(outbox.oldest_unsent)
        age = 0.0 if oldest is None else (datetime.now(UTC) - oldest).total_seconds()
        self.metrics.mail_oldest_unsent(max(age, 0.0))


async def send_now(transport: Transport, settings: Settings, mail: Mail) -> str:
    """Send one message at once (the sender's, and `roster send-test-mail`'s, outside the
    outbox): the server's answer, or Undelivered."""
    return await transport.send(email_message(mail, settings), envelope(mail, settings))

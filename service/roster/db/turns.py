"""Turns at a fixed number of connections: units of work beyond it wait in the order they came
(no newcomer takes a connection ahead of those waiting), and one that cannot start within its
wait budget is refused at once with 503 and `Retry-After`, rather than after the budget.

SQLAlchemy's pool hands a returned connection to whichever task asks next, so under a thousand
concurrent requests some waited for seconds while most never did (p99 36x p50); here the wait
is the queue's, the same for everyone.

How long a newcomer would wait is the queue ahead of it times the time between two turns, as
measured while there is a queue: not the time a unit holds its connection, which, under load,
is mostly the unit waiting for the event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ..errors import ServiceUnavailable

BUSY = "Every database connection is busy: try again shortly"
_SMOOTHING = 0.05  # weight of the newest interval in the running mean
_FIRST_INTERVAL = 0.0005  # seconds between turns assumed before any is measured


class Turns:
    def __init__(self, slots: int, wait_seconds: float, retry_after: int) -> None:
        self.slots = slots
        self._free = slots
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._wait = wait_seconds
        self._retry_after = retry_after
        self._interval = _FIRST_INTERVAL
        self._last_handed = 0.0

    @property
    def expected_wait(self) -> float:
        """How long a newcomer would wait: the queue ahead, a turn at a time."""
        return (len(self._waiting) + 1) * self._interval

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """A connection's worth of the budget, for the block."""
        await self._take()
        try:
            yield
        finally:
            self._give_back()

    async def _take(self) -> None:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        if self.expected_wait > self._wait:
            raise self._refusal()
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            async with asyncio.timeout(self._wait):
                await asyncio.shield(waiter)
        except (TimeoutError, asyncio.CancelledError) as error:
            if waiter.done():  # handed a turn just as the wait ended: pass it on
                self._give_back()
            else:
                waiter.cancel()
                self._waiting.remove(waiter)
            if isinstance(error, TimeoutError):
                raise self._refusal() from None
            raise

    def _give_back(self) -> None:
        """The turn goes to the first still waiting, or back to the free ones."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                self._measure()
                waiter.set_result(None)
                return
        self._free += 1
        self._last_handed = 0.0  # no queue: the next interval measured starts afresh

    def _measure(self) -> None:
        now = time.perf_counter()
        if self._last_handed:
            self._interval += _SMOOTHING * ((now - self._last_handed) - self._interval)
        self._last_handed = now

    def _refusal(self) -> ServiceUnavailable:
        return ServiceUnavailable.retry_in(self._retry_after, BUSY)

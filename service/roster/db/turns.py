"""Turns at a fixed number of connections: units of work beyond it wait in the order they came
(no newcomer takes a connection ahead of those waiting), and one that cannot start within its
wait budget is refused at once with 503 and `Retry-After`, rather than after the budget.

SQLAlchemy's pool hands a returned connection to whichever task asks next, so under a thousand
concurrent requests some waited for seconds while most never did (p99 50x p50); here the wait
is the queue's, the same for everyone.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ..errors import ServiceUnavailable

BUSY = "Every database connection is busy: try again shortly"
_SMOOTHING = 0.05  # weight of the newest hold time in the running mean
_FIRST_HOLD = 0.002  # seconds a unit is assumed to hold its connection before any is measured


class Turns:
    def __init__(self, slots: int, wait_seconds: float, retry_after: int) -> None:
        self.slots = slots
        self._free = slots
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._wait = wait_seconds
        self._retry_after = retry_after
        self._mean_hold = _FIRST_HOLD

    @property
    def expected_wait(self) -> float:
        """How long a newcomer would wait: the queue ahead, served `slots` at a time."""
        return (len(self._waiting) + 1) / self.slots * self._mean_hold

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """A connection's worth of the budget, for the block."""
        await self._take()
        started = time.perf_counter()
        try:
            yield
        finally:
            held = time.perf_counter() - started
            self._mean_hold += _SMOOTHING * (held - self._mean_hold)
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
                waiter.set_result(None)
                return
        self._free += 1

    def _refusal(self) -> ServiceUnavailable:
        return ServiceUnavailable.retry_in(self._retry_after, BUSY)

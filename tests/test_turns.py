"""Turns at a worker's database connections (roster.db.turns): first come, first served, and
a request that cannot be served in time refused at once (README, Deployment)."""

from __future__ import annotations

import asyncio
import time

import pytest

from roster.db.turns import Turns
from roster.errors import ServiceUnavailable


async def test_waiters_are_served_in_the_order_they_came() -> None:
    turns = Turns(slots=1, wait_seconds=5, retry_after=2)
    served: list[int] = []

    async def one(n: int) -> None:
        async with turns.turn():
            served.append(n)
            await asyncio.sleep(0.01)

    tasks = []
    for n in range(20):
        tasks.append(asyncio.ensure_future(one(n)))
        await asyncio.sleep(0)  # each asks before the next
    await asyncio.gather(*tasks)
    assert served == list(range(20))


async def test_a_wait_past_the_budget_is_503_with_retry_after() -> None:
    turns = Turns(slots=1, wait_seconds=0.05, retry_after=2)
    async with turns.turn():
        with pytest.raises(ServiceUnavailable) as refused:
            async with turns.turn():
                pass
    assert refused.value.headers == {"Retry-After": "2"}
    async with turns.turn():  # the refused waiter left nothing behind
        pass


async def test_one_that_cannot_be_served_in_time_is_refused_at_once() -> None:
    turns = Turns(slots=1, wait_seconds=0.3, retry_after=1)

    async def slow() -> None:
        async with turns.turn():
            await asyncio.sleep(0.01)

    queue = [asyncio.ensure_future(slow()) for _ in range(100)]
    await asyncio.sleep(0.25)  # some twenty turns: the pace is measured, 80 still wait
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        async with turns.turn():
            pass
    assert time.monotonic() - started < 0.05, "refused at once, not after the budget"
    outcomes = await asyncio.gather(*queue, return_exceptions=True)
    assert all(o is None or isinstance(o, ServiceUnavailable) for o in outcomes)

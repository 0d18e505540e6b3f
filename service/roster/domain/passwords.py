"""argon2id password hashing, off the event loop, a bounded number of hashes at a time.

Each hash holds `memory_kib` of memory while it runs, so the thread pool's size is also the
ceiling on the memory hashing can take, however many requests arrive together.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from ..serving.draining import WorkGate
from ..serving.metrics import Metrics
from ..serving.threads import lower_priority
from ..settings import PasswordHashing

Result = TypeVar("Result")


class Passwords:
    def __init__(
        self,
        config: PasswordHashing,
        metrics: Metrics | None = None,
        gate: WorkGate | None = None,
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=config.time_cost,
            memory_cost=config.memory_kib,
            parallelism=config.parallelism,
            type=Type.ID,
        )
        self.workers = config.workers or _usable_cores()
        self._executor = ThreadPoolExecutor(
            self.workers,
            thread_name_prefix="argon2",
            initializer=lower_priority,
            initargs=(config.niceness,),
        )
        self._metrics = metrics or Metrics()
        self._gate = gate
        self._dummy_hash: str | None = None

    async def start(self) -> None:
        """Make the hash that unknown emails are checked against now, not at the first one
        (which would then take longer than the rest: a timing signal)."""
        self._dummy_hash = await self.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await self._run(self._verify, password_hash, password)

    async def verify_nobody(self, password: str) -> None:
        """Spend the time of a verification when there is no user, so both cases look alike."""
        if self._dummy_hash is None:
            await self.start()
        assert self._dummy_hash is not None
        await self.verify(self._dummy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _run(self, func: Callable[..., Result], *args: str) -> Result:
        gate = self._gate
        began = gate is None or gate.began_work()
        if gate is not None and gate.closed and not began:
            raise gate.refusal()

        def job() -> Result:
            self._metrics.hash_waiting(-1)
            if gate is not None and gate.closed and not began:
                raise gate.refusal()  # queued past the drain time: the request gets 503
            return func(*args)

        self._metrics.hash_waiting(1)
        result = await asyncio.get_running_loop().run_in_executor(self._executor, job)
        if gate is not None:
            gate.mark_began()
        return result


def _usable_cores() -> int:
    """Cores this process may run on (fewer than the machine's when pinned or in a container)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1

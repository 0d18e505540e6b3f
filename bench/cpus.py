"""CPU placement: the server on one core, the load generator on another, when possible."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

from .usage import processes_named


@dataclass(frozen=True)
class Placement:
    """Which cores the server and the load generator get (empty: not pinned)."""

    server: tuple[int, ...]
    load: tuple[int, ...]

    @property
    def pinned(self) -> bool:
        return bool(self.server)

    def server_prefix(self) -> list[str]:
        return _taskset(self.server)

    def load_prefix(self) -> list[str]:
        return _taskset(self.load)

    @property
    def load_threads(self) -> int:
        """wrk threads: one per core wrk may use."""
        return len(self.load) if self.load else max(1, (os.cpu_count() or 2) // 2)

    def describe(self) -> str:
        if not self.pinned:
            return "not pinned (taskset missing or fewer than 2 cores)"
        return f"server on CPU {_list(self.server)}, load generator on CPU {_list(self.load)}"


def choose(pin: bool = True) -> Placement:
    """Server on the first allowed core, wrk on the second, if taskset exists and there are two."""
    allowed = sorted(os.sched_getaffinity(0))
    if not pin or shutil.which("taskset") is None or len(allowed) < 2:
        return Placement((), ())
    return Placement((allowed[0],), (allowed[1],))


def _taskset(cpus: tuple[int, ...]) -> list[str]:
    return ["taskset", "-c", _list(cpus)] if cpus else []


def _list(cpus: tuple[int, ...]) -> str:
    return ",".join(str(cpu) for cpu in cpus)


@contextlib.contextmanager
def processes_on(command: str, cores: tuple[int, ...]) -> Iterator[int]:
    """Every running process named `command` kept on `cores` until the block ends (the ones it
    forks meanwhile inherit that: PostgreSQL's backends fork from the postmaster); yields how
    many were moved. Each gets its own cores back at the end."""
    moved: dict[int, set[int]] = {}
    for pid in processes_named(command):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            mask = os.sched_getaffinity(pid)
            os.sched_setaffinity(pid, cores)
            moved[pid] = mask
    try:
        yield len(moved)
    finally:
        for pid, mask in moved.items():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.sched_setaffinity(pid, mask)

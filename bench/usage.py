"""What the server used during a run: peak memory (the sum of VmRSS over its process tree,
sampled in a thread), CPU time, and how busy its core was (others' load shows up there)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from types import TracebackType

PROC = Path("/proc")
KIB = 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _parent_of(pid: int) -> int | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (2nd field) may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[1]) if len(fields) > 1 else None


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants that are alive now."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        parent = _parent_of(int(entry.name))
        if parent is not None:
            children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def processes_named(command: str) -> list[int]:
    """The processes alive now whose command name (`comm`) is `command`."""
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                name = (entry / "comm").read_text().strip()
            except OSError:
                continue  # gone meanwhile
            if name == command:
                found.append(int(entry.name))
    return found


def rss_bytes(pid: int) -> int:
    """VmRSS of one process, 0 if it is gone (or a zombie, which has none)."""
    try:
        status = (PROC / str(pid) / "status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * KIB
    return 0


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, 0 if it is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def busy_ticks(cpus: tuple[int, ...]) -> tuple[int, int]:
    """(busy, total) jiffies of these CPUs since boot, from /proc/stat."""
    busy = total = 0
    names = {f"cpu{cpu}" for cpu in cpus}
    for line in (PROC / "stat").read_text().splitlines():
        fields = line.split()
        if fields and fields[0] in names:
            values = [int(value) for value in fields[1:]]
            idle = values[3] + values[4]  # idle + iowait
            busy += sum(values[:8]) - idle
            total += sum(values[:8])
    return busy, total


class ServerUsage:
    """`with ServerUsage(pid, cpus) as usage:` samples every `interval` s until the block ends."""

    def __init__(self, root_pid: int, cpus: tuple[int, ...], interval: float = 0.1) -> None:
        self.root_pid = root_pid
        self.cpus = cpus
        self.interval = interval
        self.peak_total = 0
        self.peak_process = 0
        self.samples = 0
        self.cpu_percent = 0.0  # the server's CPU time ÷ wall time (100 = one core)
        self.core_busy_percent: float | None = None  # its core(s), all processes; if pinned
        self.load_average = 0.0  # 1-minute load average at the end
        self._cpu: dict[int, float] = {}
        self._baseline: dict[int, float] = {}
        self._started = 0.0
        self._ticks = (0, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="server-usage", daemon=True)

    def __enter__(self) -> ServerUsage:
        self._started = time.monotonic()
        self._ticks = busy_ticks(self.cpus)
        self._sample()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample()
        elapsed = time.monotonic() - self._started
        if elapsed > 0:
            self.cpu_percent = 100 * sum(self._cpu.values()) / elapsed
        busy, total = busy_ticks(self.cpus)
        if self.cpus and total > self._ticks[1]:
            share = (busy - self._ticks[0]) / (total - self._ticks[1])
            self.core_busy_percent = 100 * share * len(self.cpus)
        self.load_average = os.getloadavg()[0]

    @property
    def peak_mib(self) -> float:
        return self.peak_total / (KIB * KIB)

    @property
    def peak_process_mib(self) -> float:
        return self.peak_process / (KIB * KIB)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        if not os.path.exists(PROC / str(self.root_pid)):
            return
        sizes = []
        for pid in process_tree(self.root_pid):
            sizes.append(rss_bytes(pid))
            used = cpu_seconds(pid)
            # A process there at the start counts from then; one born later, all its time.
            baseline = self._baseline.setdefault(pid, used if self.samples == 0 else 0.0)
            self._cpu[pid] = used - baseline
        self.peak_total = max(self.peak_total, sum(sizes))
        self.peak_process = max(self.peak_process, max(sizes, default=0))
        self.samples += 1

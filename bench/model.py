"""What a benchmark run records: one measurement per (server, scenario, connections)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .wrk import WrkResult

ROSTER = "roster"
BARE_FLOOR = "bare-asgi"
QUART_FLOOR = "quart-minimal"
FLOOR_KEY = "S1"  # the floors are measured with S1's request, GET /health


@dataclass(frozen=True)
class Measurement:
    server: str  # ROSTER, BARE_FLOOR or QUART_FLOOR
    scenario: str  # "S1"… "S7"; "S6-reads" and "S6-writes" for the two halves of S6
    title: str
    connections: int
    warmup_s: float
    wrk: WrkResult
    peak_rss_mib: float  # peak of the sum of VmRSS over the server's process tree
    peak_process_mib: float  # peak VmRSS of its largest process (the worker)
    server_cpu_percent: float  # server's CPU time ÷ wall time, warm-up included (100 = 1 core)
    core_busy_percent: float | None  # the server's core, every process on it (None: unpinned)
    load_average: float  # 1-minute load average at the end

    @property
    def label(self) -> str:
        if self.server == ROSTER:
            return f"{self.scenario} {self.title}"
        return f"floor {self.server} {self.title}"

    def to_json(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "scenario": self.scenario,
            "title": self.title,
            "connections": self.connections,
            "warmup_s": self.warmup_s,
            "peak_rss_mib": round(self.peak_rss_mib, 1),
            "peak_process_mib": round(self.peak_process_mib, 1),
            "server_cpu_percent": round(self.server_cpu_percent, 1),
            "core_busy_percent": None
            if self.core_busy_percent is None
            else round(self.core_busy_percent, 1),
            "load_average_1m": round(self.load_average, 2),
            **self.wrk.to_json(),
        }


@dataclass(frozen=True)
class HashCost:
    """One argon2 hash with the service's parameters, timed on the server's core."""

    seconds: float  # median
    workers: int  # hashing threads the service starts
    server_cores: int  # cores the server process may run on
    details: dict[str, Any]

    @property
    def cores_for_hashing(self) -> int:
        return max(1, min(self.workers, self.server_cores))

    @property
    def registrations_ceiling(self) -> float:
        """Registrations/s the hash cost allows: cores given to hashing ÷ time of one hash."""
        return self.cores_for_hashing / self.seconds

    def to_json(self) -> dict[str, Any]:
        return {
            **self.details,
            "seconds": self.seconds,
            "workers": self.workers,
            "server_cores": self.server_cores,
            "cores_for_hashing": self.cores_for_hashing,
            "registrations_ceiling_per_s": self.registrations_ceiling,
        }


@dataclass
class Run:
    started: str  # UTC, ISO 8601
    meta: dict[str, Any]
    measurements: list[Measurement] = field(default_factory=list)
    hash_cost: HashCost | None = None

    def find(self, server: str, scenario: str, connections: int) -> Measurement | None:
        for measurement in self.measurements:
            if (measurement.server, measurement.scenario, measurement.connections) == (
                server,
                scenario,
                connections,
            ):
                return measurement
        return None

    def floor(self, connections: int) -> Measurement | None:
        """The minimal Quart app's /health at the same number of connections."""
        return self.find(QUART_FLOOR, FLOOR_KEY, connections)

    def ratio(self, measurement: Measurement) -> float | None:
        floor = self.floor(measurement.connections)
        if floor is None or floor.wrk.rps == 0:
            return None
        return measurement.wrk.rps / floor.wrk.rps

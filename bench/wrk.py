"""Run wrk with one of bench/lua/*.lua and read the JSON line its done() prints."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .server import BenchError

LUA = Path(__file__).resolve().parent / "lua"
MARKER = "BENCH_JSON "
GRACE = 30.0  # seconds wrk may take past its duration before it is stopped


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    bytes: int
    status_errors: int  # responses with status > 399 (wrk's own rule)
    connect_errors: int
    read_errors: int
    write_errors: int
    timeout_errors: int
    latency_mean_ms: float
    latency_max_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    shed: int = 0  # status errors that were 503 with Retry-After (load shed, not failures)

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def success_rps(self) -> float:
        """Responses per second that were not status errors."""
        ok = self.requests - self.status_errors
        return ok / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def socket_errors(self) -> int:
        return self.connect_errors + self.read_errors + self.write_errors + self.timeout_errors

    def row(self) -> dict[str, Any]:
        """What a results table shows of a run: req/s, ok req/s, p50, p99 and errors."""
        return {
            "rps": round(self.rps, 1),
            "ok_rps": round(self.success_rps, 1),
            "p50_ms": round(self.p50_ms, 1),
            "p99_ms": round(self.p99_ms, 1),
            "errors": self.status_errors + self.socket_errors,
        }

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "rps": self.rps, "socket_errors": self.socket_errors}

    @classmethod
    def parse(cls, output: str) -> WrkResult:
        for line in reversed(output.splitlines()):
            if line.startswith(MARKER):
                raw = json.loads(line[len(MARKER) :])
                return cls(
                    requests=int(raw["requests"]),
                    duration_s=raw["duration_us"] / 1e6,
                    bytes=int(raw["bytes"]),
                    status_errors=int(raw["status_errors"]),
                    connect_errors=int(raw["connect_errors"]),
                    read_errors=int(raw["read_errors"]),
                    write_errors=int(raw["write_errors"]),
                    timeout_errors=int(raw["timeout_errors"]),
                    latency_mean_ms=raw["latency_mean_us"] / 1000,
                    latency_max_ms=raw["latency_max_us"] / 1000,
                    p50_ms=raw["p50_us"] / 1000,
                    p90_ms=raw["p90_us"] / 1000,
                    p99_ms=raw["p99_us"] / 1000,
                    shed=int(raw.get("shed_with_retry_after", 0)),
                )
        raise BenchError(f"wrk printed no {MARKER.strip()} line:\n{output[-2000:]}")


@dataclass(frozen=True)
class WrkRun:
    """One wrk invocation: which script, against what, how hard, for how long."""

    url: str
    script: str
    connections: int
    duration_s: float
    threads: int
    timeout: str
    env: dict[str, str]
    prefix: tuple[str, ...] = ()

    def command(self) -> list[str]:
        threads = max(1, min(self.threads, self.connections))
        return [
            *self.prefix,
            "wrk",
            f"--threads={threads}",
            f"--connections={self.connections}",
            f"--duration={max(1, round(self.duration_s))}s",
            f"--timeout={self.timeout}",
            f"--script={LUA / self.script}",
            self.url,
        ]

    def start(self) -> subprocess.Popen[str]:
        """Start wrk in the background; finish with `collect`."""
        return subprocess.Popen(
            self.command(),
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def collect(self, process: subprocess.Popen[str]) -> WrkResult:
        try:
            output, _ = process.communicate(timeout=self.duration_s + GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate(timeout=GRACE)
            raise BenchError(f"wrk ran {GRACE:.0f} s past its duration and was stopped") from None
        if process.returncode != 0:
            raise BenchError(f"wrk exited with {process.returncode}:\n{output[-2000:]}")
        return WrkResult.parse(output)

    def run(self) -> WrkResult:
        process = self.start()
        try:
            return self.collect(process)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=GRACE)


def require_wrk() -> str:
    """wrk's version line; `make bench` installs the Debian package when it is missing."""
    path = shutil.which("wrk")
    if path is None:
        raise BenchError("wrk is not installed: apt-get install wrk (make bench does this)")
    completed = subprocess.run(
        [path, "--version"], capture_output=True, text=True, timeout=10, check=False
    )
    text = (completed.stdout + completed.stderr).strip()
    return text.splitlines()[0] if text else "wrk"

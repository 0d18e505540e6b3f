"""`make bench` (`python -m bench.run`): the floors, then Roster's scenarios, then the report.

1. The two floors (a bare ASGI app, a minimal Quart app) under the same hypercorn command
   answer GET /health at 64, 256 and 1,000 connections.
2. Roster on a fresh SQLite file in a temporary directory: migrate, serve, seed users over
   HTTP, time one argon2 hash, then S1…S7, each with a warm-up and a measured wrk run.
3. bench/results/<timestamp>.json and .md, latest.json and latest.md; table and verdicts
   printed. Exit 0 unless the harness itself failed (2), or --strict and a target failed (1).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from . import counts, cpus, postgres, report
from .floors import FLOOR_APPS, ROSTER_APP
from .hashcost import SAMPLES
from .model import FLOOR_KEY, ROSTER, HashCost, Measurement, Run
from .scenarios import (
    FLOOR_CONNECTIONS,
    S1,
    S2,
    S5,
    S6,
    S6_WRITERS,
    UNLIMITED_LOGINS,
    Scenario,
    load,
    pick,
    presented,
    probe,
)
from .seed import Seeded, seed
from .server import REPOSITORY, BenchError, Server
from .targets import FAIL, judge
from .usage import ServerUsage
from .wrk import WrkResult, WrkRun, require_wrk

DESCRIPTION = "Benchmark Roster under hypercorn with wrk, against two floors."
SETTLE_S = 1.0  # pause between runs: connections close, the server goes idle
SETTINGS_SHOWN = (
    "LOG_LEVEL",
    "ARGON2_MEMORY_KIB",
    "ARGON2_TIME_COST",
    "ARGON2_PARALLELISM",
    "PASSWORD_HASH_WORKERS",
    "DB_CONNECTIONS",
    "DB_POOL_TIMEOUT",
    "DB_PGBOUNCER",
    "DB_BUSY_TIMEOUT_MS",
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=DESCRIPTION)
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 s warm-up, 3 s runs")
    parser.add_argument("--duration", type=float, help="measured seconds per run (default 10)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per run (default 2)")
    parser.add_argument("--s5-duration", type=float, help="S5's measured seconds (default 60)")
    parser.add_argument("--scenarios", help="comma-separated subset, e.g. S1,S2 (default all)")
    parser.add_argument("--skip-floors", action="store_true", help="no floors (no ratios)")
    parser.add_argument("--users", type=int, default=1000, help="users seeded (default 1000)")
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgresql", "pgbouncer"),
        default="sqlite",
        help="Roster's database: a fresh SQLite file, or a fresh database on the local "
        "PostgreSQL server (127.0.0.1:5432, dropped at the end), or that database through "
        "PgBouncer in transaction pooling (127.0.0.1:6432, .ci/pgbouncer starts one)",
    )
    parser.add_argument(
        "--worker-class",
        default="asyncio",
        choices=("asyncio", "uvloop"),
        help="hypercorn worker class for every server (default: as `roster serve`)",
    )
    parser.add_argument("--timeout", default="5s", help="wrk's per-request timeout (default 5s)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (db, logs)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    parser.add_argument(
        "--no-counts", action="store_true", help="skip the instruction counts (bench.counts)"
    )
    parser.add_argument("--results-dir", type=Path, default=report.RESULTS)
    return parser


class Bench:
    def __init__(self, args: argparse.Namespace, placement: cpus.Placement, workdir: Path):
        self.args = args
        self.placement = placement
        self.workdir = workdir
        self.warmup: float = args.warmup if args.warmup is not None else (1 if args.quick else 2)
        self.duration: float = (
            args.duration if args.duration is not None else (3 if args.quick else 10)
        )
        self.s5_duration: float = (
            args.s5_duration if args.s5_duration is not None else (10 if args.quick else 60)
        )
        self.database_url = f"sqlite+aiosqlite:///{workdir / 'roster.db'}"
        if args.backend != "sqlite":
            self.database_url = postgres.create_database()
        self.env = {**os.environ, **UNLIMITED_LOGINS, "DATABASE_URL": self.database_url}
        if args.backend == "pgbouncer":  # migrated directly, served through PgBouncer
            self.env |= {"DATABASE_URL": postgres.through_pgbouncer(self.database_url)}
            self.env |= {"DB_PGBOUNCER": "true"}
        self.run = Run(started=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), meta={})

    # -- servers -------------------------------------------------------------------------

    def _server(self, app: str, name: str) -> Server:
        return Server(
            app,
            worker_class=self.args.worker_class,
            env=self.env,
            log_path=self.workdir / f"{name}.log",
            prefix=self.placement.server_prefix(),
        )

    def floors(self) -> None:
        for name, app in FLOOR_APPS.items():
            with self._server(app, name) as server:
                for connections in FLOOR_CONNECTIONS:
                    self._measure(server, name, S1, connections, None, key=FLOOR_KEY)

    def roster(self, scenarios: Sequence[Scenario]) -> None:
        self._migrate()
        server = self._server(ROSTER_APP, ROSTER)
        with server:
            seeded = asyncio.run(seed(server.base_url, self.args.users, _nonce()))
            self.run.meta |= {"seeded_users": len(seeded.ids), "seed_seconds": seeded.seconds}
            _say(f"seeded {len(seeded.ids)} users in {seeded.seconds:.1f} s")
            for scenario in scenarios:
                if scenario in (S5, S6) and self.run.hash_cost is None:
                    self.run.hash_cost = self._hash_cost(server)
                if scenario is S6:
                    self._s6(server, seeded)
                    continue
                for connections in scenario.connections:
                    self._measure(server, ROSTER, scenario, connections, seeded)
        count, lines = _log_errors(server.log_path)
        self.run.meta |= {"server_log_errors": count, "server_log_error_lines": lines}

    def _migrate(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "roster", "migrate"],
            cwd=REPOSITORY,
            env={**self.env, "DATABASE_URL": self.database_url},  # directly
            check=True,
            timeout=120,
            stdout=subprocess.DEVNULL,
        )

    # -- measurements --------------------------------------------------------------------

    def _wrk(
        self, server: Server, script: str, connections: int, seconds: float, seeded: Seeded | None
    ) -> WrkRun:
        return load(
            server.base_url, script, connections, seconds, seeded, self.placement, self.args.timeout
        )

    def _measure(
        self,
        server: Server,
        name: str,
        scenario: Scenario,
        connections: int,
        seeded: Seeded | None,
        key: str | None = None,
    ) -> None:
        seeded = presented(scenario, seeded)
        probe(server.base_url, scenario.script, seeded)
        seconds = self.s5_duration if scenario.long else self.duration
        with ServerUsage(server.pid, self.placement.server) as usage:
            if self.warmup > 0:
                self._wrk(server, scenario.script, connections, self.warmup, seeded).run()
            result = self._wrk(server, scenario.script, connections, seconds, seeded).run()
        server.check_alive(f"{key or scenario.key} at {connections} connections")
        self._record(name, key or scenario.key, scenario.title, connections, result, usage)

    def _s6(self, server: Server, seeded: Seeded) -> None:
        """S2 at 64 connections while S5 runs at 16: writers start first, end last."""
        connections = S6.connections[0]
        probe(server.base_url, S5.script, seeded)
        probe(server.base_url, S2.script, seeded)
        span = 2 * self.warmup + self.duration + SETTLE_S
        writers = self._wrk(server, S5.script, S6_WRITERS, span, seeded)
        with ServerUsage(server.pid, self.placement.server) as usage:
            process = writers.start()
            try:
                time.sleep(self.warmup)
                if self.warmup > 0:
                    self._wrk(server, S2.script, connections, self.warmup, seeded).run()
                reads = self._wrk(server, S2.script, connections, self.duration, seeded).run()
                writes = writers.collect(process)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait(timeout=30)
        server.check_alive("S6")
        self._record(ROSTER, "S6-reads", f"{S2.title} during S5", connections, reads, usage)
        self._record(ROSTER, "S6-writes", f"{S5.title} under S6", S6_WRITERS, writes, usage)

    def _record(
        self,
        server: str,
        key: str,
        title: str,
        connections: int,
        result: WrkResult,
        usage: ServerUsage,
    ) -> None:
        measurement = Measurement(
            server=server,
            scenario=key,
            title=title,
            connections=connections,
            warmup_s=self.warmup,
            wrk=result,
            peak_rss_mib=usage.peak_mib,
            peak_process_mib=usage.peak_process_mib,
            server_cpu_percent=usage.cpu_percent,
            core_busy_percent=usage.core_busy_percent,
            load_average=usage.load_average,
        )
        self.run.measurements.append(measurement)
        _say(
            f"{measurement.label} @{connections}: {result.rps:,.0f} req/s, "
            f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
            f"{result.status_errors} non-2xx, {result.socket_errors} socket errors, "
            f"peak {usage.peak_mib:.0f} MiB, server CPU {usage.cpu_percent:.0f}%, "
            f"load {usage.load_average:.1f}"
        )
        time.sleep(SETTLE_S)

    def _hash_cost(self, server: Server) -> HashCost:
        """Time one hash on the server's core (server idle), with the server's settings."""
        completed = subprocess.run(
            [*self.placement.server_prefix(), sys.executable, "-m", "bench.hashcost"],
            cwd=REPOSITORY,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if completed.returncode != 0:
            raise BenchError(f"bench.hashcost failed:\n{completed.stderr[-2000:]}")
        details: dict[str, Any] = json.loads(completed.stdout)
        cost = HashCost(
            seconds=float(details["median_s"]),
            workers=int(details["workers"]),
            server_cores=len(os.sched_getaffinity(server.pid)),
            details=details,
        )
        _say(
            f"one argon2 hash: {cost.seconds * 1000:.1f} ms (median of {SAMPLES}); "
            f"{cost.workers} hash worker(s), {cost.server_cores} server core(s) → "
            f"ceiling {cost.registrations_ceiling:.1f} registrations/s"
        )
        return cost

    # -- run information -----------------------------------------------------------------

    def describe(self, wrk_version: str, scenarios: Sequence[Scenario]) -> None:
        self.run.meta |= {
            "commit": _commit(),
            "python": platform.python_version(),
            "hypercorn": importlib.metadata.version("hypercorn"),
            "wrk": wrk_version,
            "wrk_threads": self.placement.load_threads,
            "wrk_timeout": self.args.timeout,
            "worker_class": self.args.worker_class,
            "placement": self.placement.describe(),
            "cpu": _cpu_model(),
            "cpus": os.cpu_count(),
            "warmup_s": self.warmup,
            "duration_s": self.duration,
            "s5_duration_s": self.s5_duration,
            "scenarios": [scenario.key for scenario in scenarios],
            "floors": not self.args.skip_floors,
            "settings": {name: os.environ.get(name) for name in SETTINGS_SHOWN},
        }


def _instructions(workdir: Path) -> dict[str, int]:
    """bench.counts' figures by scenario key ("S1", …, "login"); none without valgrind."""
    _say("counting instructions per request under callgrind (bench.counts)")
    directory = workdir / "counts"
    directory.mkdir()
    try:
        figures = counts.count(directory)
    except counts.Unavailable as error:
        _say(f"no instruction counts: {error}")
        return {}
    return {name.split()[0]: figure for name, figure in figures.items()}


def _nonce() -> str:
    return os.urandom(4).hex()


def _say(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def _commit() -> str:
    def git(*args: str) -> str:
        completed = subprocess.run(
            ["git", "--no-optional-locks", *args],
            cwd=REPOSITORY,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return completed.stdout.strip() if completed.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{commit}{'+dirty' if dirty else ''}"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _log_errors(path: Path) -> tuple[int, list[str]]:
    """How many errors the server's log reports (an ERROR line, a traceback), and the first few:
    a traceback is shown by its last line, the exception."""
    count, first, in_traceback = 0, list[str](), False
    try:
        with path.open(errors="replace") as log:
            for line in log:
                if in_traceback and not line[:1].isspace():
                    in_traceback = False
                    if len(first) < 20:
                        first.append(f"Traceback … {line.rstrip()[:300]}")
                if line.startswith("Traceback"):
                    count += 1
                    in_traceback = True
                elif " ERROR " in line or "[ERROR]" in line:
                    count += 1
                    if len(first) < 20:
                        first.append(line.rstrip()[:300])
    except OSError:
        pass
    return count, first


def _raise_fd_limit() -> None:
    """wrk and the server each hold one descriptor per connection (S7: 1,000)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    placement = cpus.choose(pin=not args.no_pin)
    if placement.pinned:
        os.sched_setaffinity(0, placement.load)  # keep this process off the server's core
    _raise_fd_limit()
    workdir = Path(tempfile.mkdtemp(prefix="roster-bench-"))
    status = 0
    bench: Bench | None = None
    try:
        scenarios = pick(args.scenarios)
        wrk_version = require_wrk()
        bench = Bench(args, placement, workdir)
        bench.describe(wrk_version, scenarios)
        _say(f"{placement.describe()}; work dir {workdir}")
        if not args.skip_floors:
            bench.floors()
        bench.roster(scenarios)
        if not args.no_counts:
            bench.run.meta["instructions"] = _instructions(workdir)
    except (BenchError, httpx.HTTPError, subprocess.SubprocessError, OSError) as error:
        _say(f"FAILED: {type(error).__name__}: {error}")
        status = 2
    except KeyboardInterrupt:
        _say("interrupted")
        status = 130
    finally:
        if bench is not None and args.backend != "sqlite":
            postgres.drop_database(bench.database_url)
        if args.keep or status not in (0, 130):
            _say(f"kept {workdir} (database and server logs)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if bench is None or not bench.run.measurements:
        return status or 2
    if status:
        bench.run.meta["incomplete"] = True
    verdicts = judge(bench.run)
    paths = report.write(bench.run, verdicts, args.results_dir)
    print(report.markdown(bench.run, verdicts))
    _say("wrote " + ", ".join(str(path) for path in paths))
    if bench.run.meta.get("server_log_errors"):
        _say(f"the server logged {bench.run.meta['server_log_errors']} error lines, first:")
        for line in bench.run.meta["server_log_error_lines"][:5]:
            _say(f"  {line}")
    if status == 0 and args.strict and any(v.status == FAIL for v in verdicts):
        status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())

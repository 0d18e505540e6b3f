"""`python -m bench.compare`: Roster beside other servers of the same contract, interleaved.

Contenders: this checkout; other checkouts of Roster (`--checkout NAME=DIR`, an older commit,
say); the peer apps (`--peers DIR`: a folder holding `flask_sync/` and `fastapi/`, each with
`app.py` and `requirements.txt`). Each one gets a virtualenv of its own (an older checkout's
`.venv` if it has one, else one under bench/.run/venvs/), a fresh SQLite file (or PostgreSQL
database, for Roster only), the same users seeded over HTTP, and one worker on the server's core.

Then, round after round, every scenario at every connection count is measured on every
contender in turn — the order rotated each round — so that a slow minute of this machine falls
on all of them alike. The table shows each round's req/s and the ratios of the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from roster.testing import server as harness

from . import cpus, postgres, report
from .run import _raise_fd_limit
from .scenarios import S1, S2, S3, S4, UNLIMITED_LOGINS, Scenario, load, pick, presented, probe
from .seed import Seeded, seed
from .server import REPOSITORY, BenchError
from .wrk import WrkResult, require_wrk

VENVS = REPOSITORY / "bench" / ".run" / "venvs"
SETTLE_S = 1.0
# How each peer is served: one worker, as Roster's benchmark serves Roster (the peers' README).
PEER_COMMANDS = {
    "flask_sync": ["-m", "gunicorn", "app:app", "--bind", "127.0.0.1:{port}", "--workers", "1",
                   "--worker-class", "sync"],
    "fastapi": ["-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", "{port}",
                "--no-access-log", "--log-level", "warning"],
}  # fmt: skip
PEER_TITLES = {"flask_sync": "Flask + gunicorn (sync)", "fastapi": "FastAPI + uvicorn"}


@dataclass
class Contender:
    name: str
    title: str
    python: Path
    args: list[str]  # after `python`, with {port}
    cwd: Path
    env: dict[str, str]
    migrate: list[str] | None = None  # after `python`
    server: harness.Server | None = None
    seeded: Seeded | None = None
    results: dict[tuple[str, int], list[WrkResult]] = field(default_factory=dict)


def _venv(name: str, requirements: list[str], cwd: Path) -> Path:
    """A virtualenv of its own under bench/.run/venvs/, made once (a stamp marks it complete)."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    stamp = venv / ".complete"
    if not stamp.exists():
        _say(f"making {venv} ({' '.join(requirements)})")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *requirements], cwd=cwd, check=True
        )
        stamp.touch()
    return python


def roster_contender(name: str, checkout: Path, database_url: str) -> Contender:
    """A checkout of Roster: its package is `roster` (service/roster/) or, before the rename,
    `service`."""
    module = "roster" if (checkout / "service" / "roster" / "asgi.py").exists() else "service"
    if checkout == REPOSITORY:
        python = Path(sys.executable)
    elif (checkout / ".venv" / "bin" / "python").exists():
        python = checkout / ".venv" / "bin" / "python"
    else:
        constraints = ["-c", "constraints.txt"] if (checkout / "constraints.txt").exists() else []
        python = _venv(f"roster-{name}", [*constraints, "-e", "."], checkout)
    command = harness.hypercorn_command(0, app=f"{module}.asgi:app")[1:]
    command[command.index("--bind") + 1] = "127.0.0.1:{port}"
    return Contender(
        name=name,
        title=f"Roster {name}",
        python=python,
        args=command,
        cwd=checkout,
        env={**os.environ, **UNLIMITED_LOGINS, "DATABASE_URL": database_url},
        migrate=["-m", module, "migrate"],
    )


def peer_contender(folder: Path, workdir: Path) -> Contender:
    python = _venv(f"peer-{folder.name}", ["-r", str(folder / "requirements.txt")], folder)
    return Contender(
        name=folder.name,
        title=PEER_TITLES.get(folder.name, folder.name),
        python=python,
        args=PEER_COMMANDS[folder.name],
        cwd=folder,
        # The peers' folder may be read-only: no bytecode written beside their app.py.
        env={**os.environ, "DB_PATH": str(workdir / f"{folder.name}.db"),
             "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip


class Comparison:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.placement = cpus.choose()
        self.scenarios: tuple[Scenario, ...] = pick(args.scenarios)
        self.connections: tuple[int, ...] = tuple(int(c) for c in args.connections.split(","))
        self.contenders: list[Contender] = []
        self.databases: list[str] = []
        self.started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _database(self, name: str, backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite+aiosqlite:///{self.workdir / f'roster-{name}.db'}"
        url = postgres.create_database(f"_{name.replace('-', '_')}")
        self.databases.append(url)
        return url

    def prepare(self) -> None:
        both = self.args.backend == "both"
        for backend in ("sqlite", "postgresql") if both else (self.args.backend,):
            suffix = "-pg" if both and backend == "postgresql" else ""
            checkouts = [("new", REPOSITORY)]
            for spec in self.args.checkout:
                name, _, directory = spec.partition("=")
                checkouts.append((name, Path(directory).resolve()))
            for name, checkout in checkouts:
                database = self._database(name + suffix, backend)
                self.contenders.append(roster_contender(name + suffix, checkout, database))
        if self.args.peers is not None:
            for folder in sorted(self.args.peers.iterdir()):
                if folder.name in PEER_COMMANDS:
                    self.contenders.append(peer_contender(folder, self.workdir))

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        try:
            for contender in self.contenders:
                self._start(contender)
            yield
        finally:
            for contender in self.contenders:
                if contender.server is not None:
                    harness.stop(contender.server)

    def _start(self, contender: Contender) -> None:
        if contender.migrate is not None:
            subprocess.run(
                [str(contender.python), *contender.migrate],
                cwd=contender.cwd,
                env=contender.env,
                check=True,
                timeout=300,
                stdout=subprocess.DEVNULL,
            )
        port = harness.free_port()
        args = [part.replace("{port}", str(port)) for part in contender.args]
        command = [*self.placement.server_prefix(), str(contender.python), *args]
        log = self.workdir / f"{contender.name}.log"
        # workers=0: only /health decides readiness (the peers' servers print other banners).
        contender.server = harness.start(
            command, port, log, workers=0, env=contender.env, cwd=contender.cwd
        )
        contender.seeded = asyncio.run(
            seed(contender.server.base_url, self.args.users, os.urandom(4).hex())
        )
        _say(f"{contender.title}: serving on {contender.server.base_url}, seeded")

    def measure(self) -> None:
        for round_number in range(self.args.rounds):
            shift = round_number % len(self.contenders)
            order = self.contenders[shift:] + self.contenders[:shift]
            for scenario in self.scenarios:
                for connections in self.connections:
                    for contender in order:
                        self._one(contender, scenario, connections)

    def _one(self, contender: Contender, scenario: Scenario, connections: int) -> None:
        server, seeded = contender.server, contender.seeded
        if server is None or seeded is None:
            raise BenchError(f"{contender.name} is not serving")
        if scenario.by_key and seeded.key is None:
            _say(f"{contender.title:<28} {scenario.key}: skipped, it has no API keys")
            return
        seeded = presented(scenario, seeded)
        probe(server.base_url, scenario.script, seeded)

        def wrk(seconds: float) -> WrkResult:
            return load(
                server.base_url, scenario.script, connections, seconds, seeded, self.placement, "5s"
            ).run()

        if self.args.warmup > 0:
            wrk(self.args.warmup)
        result = wrk(self.args.duration)
        server.check_alive(f"{scenario.key} at {connections} connections")
        contender.results.setdefault((scenario.key, connections), []).append(result)
        _say(
            f"{contender.title:<28} {scenario.key} @{connections}: {result.rps:,.0f} req/s, "
            f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
            f"{result.status_errors} non-2xx, {result.socket_errors} socket errors"
        )
        time.sleep(SETTLE_S)

    def finish(self) -> None:
        for url in self.databases:
            postgres.drop_database(url)

    # -- the report ------------------------------------------------------------------------

    def markdown(self) -> str:
        names = [c.title for c in self.contenders]
        head = "| scenario | conn | " + " | ".join(f"{n} req/s" for n in names)
        ratios = [(a, b) for a in self.contenders[:1] for b in self.contenders[1:]]
        head += "".join(f" | {a.name} ÷ {b.name}" for a, b in ratios) + " | errors |"
        lines = [head, "|---|---:|" + "---:|" * (len(names) + len(ratios) + 1)]
        for scenario in self.scenarios:
            for connections in self.connections:
                key = (scenario.key, connections)
                cells = [_runs(c.results.get(key, [])) for c in self.contenders]
                cells += [_ratio(a.results.get(key, []), b.results.get(key, [])) for a, b in ratios]
                errors = sum(
                    r.status_errors + r.socket_errors
                    for c in self.contenders
                    for r in c.results.get(key, [])
                )
                lines.append(
                    f"| {scenario.key} {scenario.title} | {connections} | "
                    + " | ".join(cells)
                    + f" | {errors} |"
                )
        lines.append("")
        lines.append("p50 / p99 ms (median run):")
        lines.append("")
        lines.append("| scenario | conn | " + " | ".join(names) + " |")
        lines.append("|---|---:|" + "---:|" * len(names))
        for scenario in self.scenarios:
            for connections in self.connections:
                key = (scenario.key, connections)
                cells = [_latency(c.results.get(key, [])) for c in self.contenders]
                lines.append(f"| {scenario.key} | {connections} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "backend": self.args.backend,
            "rounds": self.args.rounds,
            "duration_s": self.args.duration,
            "warmup_s": self.args.warmup,
            "users": self.args.users,
            "placement": self.placement.describe(),
            "postgres_on_load_core": self.args.postgres_on_load_core,
            "contenders": {
                c.name: {
                    "title": c.title,
                    "cwd": str(c.cwd),
                    "results": {
                        f"{k[0]}@{k[1]}": [r.to_json() for r in v] for k, v in c.results.items()
                    },
                }
                for c in self.contenders
            },
        }


def _median(results: Sequence[WrkResult]) -> float:
    return statistics.median(r.rps for r in results) if results else 0.0


def _runs(results: Sequence[WrkResult]) -> str:
    return " / ".join(f"{r.rps:,.0f}" for r in results) or "-"


def _ratio(mine: Sequence[WrkResult], theirs: Sequence[WrkResult]) -> str:
    if not mine or not theirs or _median(theirs) == 0:
        return "-"
    return f"{_median(mine) / _median(theirs):.2f}"


def _latency(results: Sequence[WrkResult]) -> str:
    if not results:
        return "-"
    ordered = sorted(results, key=lambda r: r.rps)
    middle = ordered[len(ordered) // 2]
    return f"{middle.p50_ms:.1f} / {middle.p99_ms:.1f}"


@contextlib.contextmanager
def _postgres_placed(args: argparse.Namespace, placement: cpus.Placement) -> Iterator[None]:
    if not args.postgres_on_load_core:
        yield
        return
    if not placement.pinned:
        _say("--postgres-on-load-core: no load generator's core here, PostgreSQL left as it is")
        yield
        return
    with cpus.processes_on("postgres", placement.load) as moved:
        _say(f"{moved} PostgreSQL processes on CPU {placement.load}")
        yield


def _say(text: str) -> None:
    print(f"[compare] {text}", file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument(
        "--checkout",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="another checkout of Roster to serve beside this one (repeatable)",
    )
    parser.add_argument("--peers", type=Path, help="a folder holding the peer apps")
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgresql", "both"),
        default="sqlite",
        help="Roster's database (the peers always use SQLite); both: each Roster twice, "
        "on SQLite and on PostgreSQL (named NAME-pg)",
    )
    parser.add_argument("--scenarios", default=",".join(s.key for s in (S1, S2, S3, S4)))
    parser.add_argument("--connections", default="64", help="comma-separated, e.g. 64,256")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--results-dir", type=Path, default=report.RESULTS)
    parser.add_argument(
        "--postgres-on-load-core",
        action="store_true",
        help="keep the local PostgreSQL server's processes on the load generator's core, as "
        "if the database were another host's (unpinned, the scheduler wakes a backend on the "
        "core of the server that wrote to it)",
    )
    return parser  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    require_wrk()
    _raise_fd_limit()
    with tempfile.TemporaryDirectory(prefix="roster-compare-") as directory:
        comparison = Comparison(args, Path(directory))
        if comparison.placement.pinned:
            os.sched_setaffinity(0, comparison.placement.load)
        try:
            with _postgres_placed(args, comparison.placement):
                comparison.prepare()
                with comparison.serving():
                    comparison.measure()
        finally:
            comparison.finish()
    table = comparison.markdown()
    print(table)
    stamp = comparison.started.replace(":", "")
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / f"compare-{stamp}.md").write_text(table + "\n")
    (args.results_dir / f"compare-{stamp}.json").write_text(
        json.dumps(comparison.to_json(), indent=2) + "\n"
    )
    _say(f"wrote {args.results_dir}/compare-{stamp}.md and .json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

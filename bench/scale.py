"""`make bench-scale` (`python -m bench.scale`): the lists at 1,000 and 1,000,000 users.

For each size: a fresh database (SQLite file, or a PostgreSQL database of its own), migrated,
seeded straight through SQL (`bench.population`), one hypercorn worker on one core and wrk
on the other. Each list scenario is one URL under 64 connections; then S2 alone, and S2 while
16 connections run the costliest list (a one-letter `q` with its exact total). The table
goes to bench/results/scale-<timestamp>.md and .json, with each scenario at the largest size
as a share of the smallest, and `q` against a plain page.

`--checkout DIR` serves another checkout of Roster on the same seeded data (the "before").
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import make_url

from roster.testing import server as harness

from . import cpus, postgres
from .population import seed_postgresql, seed_sqlite, selective_q
from .report import RESULTS
from .seed import PASSWORD
from .server import REPOSITORY, BenchError
from .wrk import WrkResult, WrkRun, require_wrk

LIST_CONNECTIONS = 64
HEAVY_CONNECTIONS = 16
HEAVY = "/api/users?q=e"
FAST_HASHING = {"ARGON2_MEMORY_KIB": "8", "ARGON2_TIME_COST": "1"}


@dataclass(frozen=True)
class Case:
    key: str
    title: str
    path: str  # `{cursor}` and `{selective}` are filled in per size


CASES = (
    Case("first", "first page", "/api/users"),
    Case("page3", "page 3 by number", "/api/users?page=3"),
    Case("cursor", "deep cursor (middle of the table)", "/api/users?cursor={cursor}"),
    Case("q_one", "q selective (1 match)", "/api/users?q={selective}"),
    Case("q_broad", "q broad (1,000 matches)", "/api/users?q=zebra"),
    Case("name", "sort=name", "/api/users?sort=name"),
    Case("created", "sort=-created_at", "/api/users?sort=-created_at"),
    Case("email", "sort=-email", "/api/users?sort=-email"),
    Case("admins", "role=admin", "/api/users?role=admin"),
    Case("disabled", "status=disabled", "/api/users?status=disabled"),
    Case(
        "both",
        "role=user&status=active&sort=-name",
        "/api/users?role=user&status=active&sort=-name",
    ),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--users", type=int, nargs="+", default=[1_000, 1_000_000])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--checkout", type=Path, default=REPOSITORY, help="the Roster to serve")
    parser.add_argument("--label", default="")
    return parser


class Scale:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.placement = cpus.choose()
        self.rows: list[dict[str, Any]] = []

    def run(self, users: int) -> None:
        url, dispose = self._database(users)
        try:
            env = {**os.environ, **FAST_HASHING, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
            env["PYTHONPATH"] = str(self.args.checkout)
            _migrate(self.args.checkout, env)
            seconds = self._seed(url, users)
            print(f"{self.args.backend}: seeded {users:,} users in {seconds:.0f} s", flush=True)
            self._serve(users, env)
        finally:
            dispose()

    def _database(self, users: int) -> tuple[str, Any]:
        if self.args.backend == "sqlite":
            path = self.workdir / f"scale-{users}.db"
            return f"sqlite+aiosqlite:///{path}", lambda: path.unlink(missing_ok=True)
        name = f"roster_scale_{users}_{os.getpid()}"
        asyncio.run(postgres.admin(f'CREATE DATABASE "{name}"'))
        url = make_url(postgres.ADMIN).set(drivername="postgresql+asyncpg", database=name)
        return url.render_as_string(hide_password=False), lambda: asyncio.run(
            postgres.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        )

    def _seed(self, url: str, users: int) -> float:
        if self.args.backend == "sqlite":
            return seed_sqlite(make_url(url).database or "", users)
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        return asyncio.run(seed_postgresql(dsn, users))

    def _serve(self, users: int, env: dict[str, str]) -> None:
        port = harness.free_port()
        command = [*self.placement.server_prefix(), *harness.hypercorn_command(port)]
        log = self.workdir / f"server-{users}.log"
        with harness.running(command, port, log, env=env, cwd=self.args.checkout) as server:
            token, fill = _prepare(server.base_url, users)
            for case in CASES:
                if case.key == "cursor" and not fill["cursor"]:
                    continue  # the Roster served has no cursors
                path = case.path.format(**fill)
                result = self._wrk(server.base_url + path, token, LIST_CONNECTIONS)
                self._record(users, case.key, case.title, result)
            solo = self._wrk(server.base_url + "/", token, LIST_CONNECTIONS, "get_user.lua")
            self._record(users, "s2", "S2 alone", solo)
            heavy = self._wrk_run(server.base_url + HEAVY, token, HEAVY_CONNECTIONS, extra=2)
            process = heavy.start()
            try:
                loaded = self._wrk(server.base_url + "/", token, LIST_CONNECTIONS, "get_user.lua")
            finally:
                heavy_result = heavy.collect(process)
            self._record(users, "s2_loaded", "S2 beside 16 connections of q=e", loaded)
            self._record(users, "heavy", "q=e (beside S2)", heavy_result)

    def _wrk_run(
        self, url: str, token: str, connections: int, script: str = "fixed.lua", extra: float = 0
    ) -> WrkRun:
        return WrkRun(
            url=url,
            script=script,
            connections=connections,
            duration_s=self.args.duration + extra + self.args.warmup,
            threads=self.placement.load_threads,
            timeout="10s",
            env={
                "ROSTER_BENCH_TOKEN": token,
                "ROSTER_BENCH_ID_MIN": "1",
                "ROSTER_BENCH_ID_MAX": "900",
            },
            prefix=tuple(self.placement.load_prefix()),
        )

    def _wrk(self, url: str, token: str, connections: int, script: str = "fixed.lua") -> WrkResult:
        run = self._wrk_run(url, token, connections, script)
        if self.args.warmup > 0:
            dataclasses.replace(run, duration_s=self.args.warmup).run()
        return dataclasses.replace(run, duration_s=self.args.duration).run()

    def _record(self, users: int, key: str, title: str, result: WrkResult) -> None:
        row = {
            "backend": self.args.backend,
            "users": users,
            "key": key,
            "title": title,
            **result.row(),
        }
        self.rows.append(row)
        print(
            f"  {users:>9,} {title:<40} {row['rps']:>8} req/s  p50 {row['p50_ms']} ms  "
            f"p99 {row['p99_ms']} ms  non-2xx/socket errors {row['errors']}",
            flush=True,
        )


def _migrate(checkout: Path, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "roster", "migrate"],
        cwd=checkout,
        env=env,
        check=True,
        timeout=600,
        stdout=subprocess.DEVNULL,
    )


def _prepare(base_url: str, users: int) -> tuple[str, dict[str, str]]:
    """The bench user's token, and the per-size parts of the URLs."""
    with httpx.Client(base_url=base_url, timeout=120) as http:
        email = f"scale-bench-{os.getpid()}@example.com"
        created = http.post(
            "/api/users", json={"name": "Bench", "email": email, "password": PASSWORD}
        )
        if created.status_code != 201:
            raise BenchError(f"registration failed: {created.status_code} {created.text}")
        login = http.post("/api/tokens", json={"email": email, "password": PASSWORD})
        token = login.json()["data"]["token"]
        middle = max(1, users // 2 // 20)
        page = http.get(
            "/api/users", params={"page": middle}, headers={"Authorization": f"Bearer {token}"}
        )
        cursor = page.json()["meta"].get("next_cursor") or ""
    return token, {"cursor": quote(cursor, safe=""), "selective": quote(selective_q(users))}


def markdown(rows: list[dict[str, Any]], sizes: Sequence[int], label: str) -> str:
    small, large = min(sizes), max(sizes)
    by = {(row["users"], row["key"]): row for row in rows}
    lines = [
        f"# Lists at scale{f' ({label})' if label else ''}",
        "",
        f"| scenario | {small:,} users req/s | {large:,} users req/s | {large:,} / {small:,} "
        f"| p99 ms at {large:,} | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    keys = [row["key"] for row in rows if row["users"] == small]
    for key in keys:
        low, high = by.get((small, key)), by.get((large, key))
        if low is None or high is None:
            continue
        share = f"{high['ok_rps'] / low['ok_rps']:.0%}" if low["ok_rps"] else "—"
        errors = low["errors"] + high["errors"]
        lines.append(
            f"| {low['title']} | {low['ok_rps']:,.0f} | {high['ok_rps']:,.0f} | {share} "
            f"| {high['p99_ms']} | {errors} |"
        )
    for users in sizes:
        first, solo, loaded = (by.get((users, key)) for key in ("first", "s2", "s2_loaded"))
        for key in ("q_one", "q_broad"):
            q = by.get((users, key))
            if first and q and first["ok_rps"]:
                share = q["ok_rps"] / first["ok_rps"]
                lines.append(f"\n{q['title']} / first page at {users:,}: {share:.0%}")
        if solo and loaded and solo["ok_rps"]:
            lines.append(
                f"S2 beside the costliest lists / S2 alone at {users:,}: "
                f"{loaded['ok_rps'] / solo['ok_rps']:.0%}"
            )
    lines.append(
        "\n(ok req/s: responses that were not errors; the costly `q=e` may be 422 by design)"
    )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    require_wrk()
    with tempfile.TemporaryDirectory(prefix="roster-scale-") as workdir:
        scale = Scale(args, Path(workdir))
        for users in args.users:
            scale.run(users)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"scale-{args.backend}{'-' + args.label if args.label else ''}-{stamp}"
    text = markdown(scale.rows, args.users, f"{args.backend} {args.label}".strip())
    (RESULTS / f"{name}.md").write_text(text, encoding="utf-8")
    (RESULTS / f"{name}.json").write_text(json.dumps(scale.rows, indent=2), encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

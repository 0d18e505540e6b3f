"""`make bench-client` (`python -m bench.client`): roster-client's own cost, against raw httpx.

One Roster worker on one core serves a fresh SQLite database; on the other core, 256 asyncio
tasks in one process read `GET /api/users/{id}` for a fixed time, first through a bare
`httpx.AsyncClient` (headers by hand, `response.json()`), then through `RosterClient`
(typed `User`, ETag kept, errors mapped, retries armed). Both are limited by the load
process's own CPU, so the ratio of their request rates is the client's overhead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from roster.testing import server as harness

from . import cpus
from .seed import PASSWORD
from .server import REPOSITORY, BenchError

TASKS = 256
USERS = 200


async def _drive(request: Callable[[int], Awaitable[object]], seconds: float) -> int:
    done = 0
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            await request(random.randint(1, USERS))
            done += 1

    await asyncio.gather(*(worker() for _ in range(TASKS)))
    return done


async def load(mode: str, base_url: str, token: str, seconds: float) -> float:
    """Requests per second that `mode` ("raw" or "client") completes."""
    limits = httpx.Limits(max_connections=TASKS, max_keepalive_connections=TASKS)
    if mode == "raw":
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as http:

            async def raw(user_id: int) -> object:
                response = await http.get(f"/api/users/{user_id}", headers=headers)
                response.raise_for_status()
                return response.json()

            await _drive(raw, 1.0)
            began = time.monotonic()
            count = await _drive(raw, seconds)
            return count / (time.monotonic() - began)
    from roster_client import RosterClient

    async with RosterClient(
        base_url, token=token, max_connections=TASKS, max_keepalive_connections=TASKS, timeout=30
    ) as roster:
        await _drive(roster.users.get, 1.0)
        began = time.monotonic()
        count = await _drive(roster.users.get, seconds)
        return count / (time.monotonic() - began)


def _prepare(base_url: str) -> str:
    with httpx.Client(base_url=base_url, timeout=60) as http:
        for index in range(USERS):
            body = {"name": f"Reader {index}", "email": f"reader{index}@example.com"}
            response = http.post("/api/users", json={**body, "password": PASSWORD})
            if response.status_code != 201:
                raise BenchError(f"seeding failed: {response.status_code} {response.text}")
        login = http.post(
            "/api/tokens", json={"email": "reader0@example.com", "password": PASSWORD}
        )
        token: str = login.json()["data"]["token"]
        return token


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--load", nargs=3, metavar=("MODE", "URL", "TOKEN"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load:
        mode, url, token = args.load
        print(json.dumps({"rps": asyncio.run(load(mode, url, token, args.seconds))}))
        return 0
    placement = cpus.choose()
    with tempfile.TemporaryDirectory(prefix="roster-client-bench-") as workdir:
        url = f"sqlite+aiosqlite:///{Path(workdir) / 'roster.db'}"
        env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
        env |= {"ARGON2_MEMORY_KIB": "1024", "ARGON2_TIME_COST": "1"}
        subprocess.run(
            [sys.executable, "-m", "roster", "migrate"], env=env, cwd=REPOSITORY, check=True
        )
        port = harness.free_port()
        command = [*placement.server_prefix(), *harness.hypercorn_command(port)]
        log = Path(workdir) / "server.log"
        with harness.running(command, port, log, env=env, cwd=REPOSITORY) as server:
            token = _prepare(server.base_url)
            rates: dict[str, list[float]] = {}
            for mode in ("raw", "client", "raw", "client"):
                completed = subprocess.run(
                    [*placement.load_prefix(), sys.executable, "-m", "bench.client",
                     "--seconds", str(args.seconds), "--load", mode, server.base_url, token],
                    capture_output=True, text=True, check=True, cwd=REPOSITORY,
                )  # fmt: skip
                rps = json.loads(completed.stdout.strip().splitlines()[-1])["rps"]
                rates.setdefault(mode, []).append(rps)
                print(f"{mode:>6}: {rps:,.0f} req/s", flush=True)
    raw, client = max(rates["raw"]), max(rates["client"])
    print(
        f"\n{TASKS} tasks, GET /api/users/{{id}}: raw httpx {raw:,.0f} req/s, "
        f"RosterClient {client:,.0f} req/s ({client / raw:.0%} of raw; best of two each)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

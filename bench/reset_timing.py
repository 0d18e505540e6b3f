"""`python -m bench.reset_timing`: does a password-reset request take the same time for a
registered address as for one nobody has (docs/API.md §6)?

`roster serve` on a fresh SQLite file (or `--postgresql`), its mail to a real SMTP server on
loopback, and one client on loopback that sends reset requests one at a time, registered and
unregistered addresses alternating (so a slow moment of the machine falls on both alike), each
address used once; then the medians and the spread of each kind. The limits are raised so
that nothing is refused: the figure is the request's own path.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from roster.testing import server as harness
from roster.testing.mailbox import MailServer, mail_server

from . import postgres

REGISTERED = "registered"
UNKNOWN = "unregistered"


async def measure(base_url: str, smtp: MailServer, requests: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {REGISTERED: [], UNKNOWN: []}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        users = [f"timing-{n}@example.com" for n in range(requests)]
        for email in users:
            body = {"name": "Timing", "email": email, "password": "timing-password-1"}
            assert (await http.post("/api/users", json=body)).status_code == 201
        for n in range(20):  # warm-up
            await http.post("/api/password-resets", json={"email": f"warm-{n}@example.com"})
        for n, email in enumerate(users):
            for kind, address in ((REGISTERED, email), (UNKNOWN, f"nobody-{n}@example.com")):
                started = time.perf_counter()
                response = await http.post("/api/password-resets", json={"email": address})
                timings[kind].append(time.perf_counter() - started)
                assert response.status_code == 202, response.text
        await smtp.wait_for(users[-1], within=60)  # every registered address got its message
    return timings


def report(timings: dict[str, list[float]]) -> str:
    lines = ["| addresses | requests | median ms | p10 ms | p90 ms |", "|---|---:|---:|---:|---:|"]
    for kind, values in timings.items():
        ms = sorted(value * 1000 for value in values)
        low, *_, high = statistics.quantiles(ms, n=10)
        median = statistics.median(ms)
        lines.append(f"| {kind} | {len(ms)} | {median:.2f} | {low:.2f} | {high:.2f} |")
    ratio = statistics.median(timings[REGISTERED]) / statistics.median(timings[UNKNOWN])
    lines.append(f"\nregistered ÷ unregistered (medians): {ratio:.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reset_timing", description=__doc__)
    parser.add_argument("--requests", type=int, default=300, help="of each kind")
    parser.add_argument("--postgresql", action="store_true", help="a fresh PostgreSQL database")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="roster-reset-timing-") as directory:
        folder = Path(directory)
        url = (
            postgres.create_database("_reset")
            if args.postgresql
            else f"sqlite+aiosqlite:///{folder / 'roster.db'}"
        )
        try:
            with mail_server() as smtp:
                env = {
                    **os.environ,
                    "DATABASE_URL": url,
                    "MAIL_URL": smtp.url,
                    "MAIL_REQUEST_RATE_LIMIT": "1000000/hour",
                    "LOGIN_ADDRESS_RATE_LIMIT": "off",
                }
                port = harness.free_port()
                command = harness.roster_serve_command(port)
                with harness.running(command, port, folder / "server.log", env=env) as server:
                    timings = asyncio.run(measure(server.base_url, smtp, args.requests))
        finally:
            if args.postgresql:
                postgres.drop_database(url)
    print(f"POST /api/password-resets, {'PostgreSQL' if args.postgresql else 'SQLite'}:")
    print(report(timings))
    return 0


if __name__ == "__main__":
    sys.exit(main())

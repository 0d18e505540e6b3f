"""CPU instructions per request, counted by callgrind: a figure that is the same for the same
code and inputs whatever else the machine does, so it can guard the hot paths in `make test`
where timings cannot (`python -m bench.counts --check`).

Roster runs in process, through its ASGI app, on a fresh migrated SQLite file holding 1,000
users. For each scenario a few requests warm it up; then callgrind counts the instructions of
the next REQUESTS (the app, its database threads and its log thread: every thread of the
process) and the figure is their mean. Valgrind is asked to count only then, through its
client requests (a tiny C helper built with the system's compiler); startup is not counted.

`--check` compares each figure with `bench/budgets.json` and fails when one is more than
TOLERANCE above its budget: raise the budget in the same commit, saying why.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from . import postgres

HERE = Path(__file__).resolve().parent
BUDGETS = HERE / "budgets.json"
TOLERANCE = 0.03  # a count this much above its budget fails the check
REQUESTS = 50  # measured requests per scenario
WARMUP = 20
USERS = 1000
PASSWORD = "bench-password-1"  # noqa: S105 -- the seeded users' password
HELPER = r"""
#include <valgrind/callgrind.h>
void roster_zero(void) { CALLGRIND_ZERO_STATS; }
void roster_dump(const char *name) { CALLGRIND_DUMP_STATS_AT(name); }
void roster_start(void) { CALLGRIND_START_INSTRUMENTATION; }
"""
# Deterministic inputs: the same hash order, the same settings whatever the caller's environment.
CHILD_ENV = {"PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
_TOTALS = re.compile(r"^(?:summary|totals):\s+(\d+)", re.MULTILINE)
_DUMP_NAME = re.compile(r"^desc: Trigger: Client Request: (.+)$", re.MULTILINE)


class Unavailable(RuntimeError):
    """No valgrind, or no compiler for the helper: nothing can be counted here."""


# --- the parent: runs the child under callgrind and reads its dumps --------------------------


def count(workdir: Path, database_url: str | None = None) -> dict[str, int]:
    """Instructions per request of each scenario (on a fresh SQLite file, or on the empty
    database at `database_url`): Roster's process only, not the database server's."""
    valgrind = shutil.which("valgrind")
    compiler = shutil.which("cc") or shutil.which("gcc")
    if valgrind is None or compiler is None:
        raise Unavailable("needs valgrind and a C compiler")
    helper = workdir / "callgrind_helper.so"
    source = workdir / "callgrind_helper.c"
    source.write_text(HELPER)
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-O1", "-o", str(helper), str(source)],
        check=True,
        capture_output=True,
    )
    out = workdir / "callgrind.out"
    command = [
        valgrind,
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}.%p",
        sys.executable,
        "-m",
        "bench.counts",
        "--child",
        str(workdir),
        str(helper),
        database_url or f"sqlite+aiosqlite:///{workdir / 'roster.db'}",
    ]
    env = {**os.environ, **CHILD_ENV}
    result = subprocess.run(
        command,
        cwd=HERE.parent,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=_one_core,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the counted run failed:\n{result.stdout}\n{result.stderr[-4000:]}")
    return _read_dumps(workdir)


def _one_core() -> None:
    """The counted process on one core, whatever the other cores do: how its threads take
    turns (and so how often the event loop wakes) then does not depend on the machine's load."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _read_dumps(workdir: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for dump in sorted(workdir.glob("callgrind.out.*")):
        text = dump.read_text(errors="replace")
        name, total = _DUMP_NAME.search(text), _TOTALS.search(text)
        if name is not None and total is not None and name.group(1) in SCENARIOS:
            counts[name.group(1)] = int(total.group(1)) // REQUESTS
    missing = set(SCENARIOS) - set(counts)
    if missing:
        raise RuntimeError(f"no count for {sorted(missing)}")
    return {name: counts[name] for name in SCENARIOS}


def check(counts: dict[str, int], budgets: dict[str, int]) -> list[str]:
    """The scenarios over budget, each as a line saying by how much."""
    over = []
    for name, figure in counts.items():
        budget = budgets.get(name)
        if budget is None:
            over.append(f"{name}: {figure:,} instructions, and no budget in {BUDGETS.name}")
        elif figure > budget * (1 + TOLERANCE):
            over.append(
                f"{name}: {figure:,} instructions, {figure / budget - 1:+.1%} on {budget:,}"
            )
    return over


def table(counts: dict[str, int], budgets: dict[str, int]) -> str:
    lines = ["| scenario | instructions per request | budget | vs budget |", "|---|---:|---:|---:|"]
    for name, figure in counts.items():
        budget = budgets.get(name)
        versus = "-" if not budget else f"{figure / budget - 1:+.1%}"
        lines.append(f"| {name} | {figure:,} | {budget or 0:,} | {versus} |")
    return "\n".join(lines)


# --- the child: Roster in process, under callgrind --------------------------------------------


@dataclass
class Reply:
    status: int = 0
    body: bytes = b""


class Asgi:
    """Requests straight into the ASGI app: no client library in the count."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> Reply:
        raw = b"" if body is None else orjson.dumps(body)
        target, _, query = path.partition("?")
        headers = [(b"host", b"127.0.0.1"), (b"user-agent", b"bench")]
        if token is not None:
            headers.append((b"authorization", f"Bearer {token}".encode()))
        if body is not None:
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(raw)),
            ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": target,
            "raw_path": target.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "extensions": {},
        }
        sent = False
        reply = Reply()

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.Event().wait()  # the app never asks again for a request it has
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                reply.status = message["status"]
            elif message["type"] == "http.response.body":
                reply.body += message.get("body", b"")

        await self.app(scope, receive, send)
        return reply


Scenario = Callable[["World", int], Awaitable[Reply]]


@dataclass
class World:
    send: Asgi
    token: str
    key: str  # an API key of the token's owner, with users:read
    user_id: int
    ids: list[int]
    emails: list[str]


async def s1(world: World, _i: int) -> Reply:
    return await world.send("GET", "/health")


async def s2(world: World, i: int) -> Reply:
    return await world.send(
        "GET", f"/api/users/{world.ids[i * 37 % len(world.ids)]}", token=world.token
    )


async def s2_key(world: World, i: int) -> Reply:
    return await world.send(
        "GET", f"/api/users/{world.ids[i * 37 % len(world.ids)]}", token=world.key
    )


async def s3(world: World, i: int) -> Reply:
    return await world.send("GET", f"/api/users?page={i % 50 + 1}&per_page=20", token=world.token)


async def s4(world: World, i: int) -> Reply:
    body = {"name": f"Bench User {i}"}
    return await world.send("PATCH", f"/api/users/{world.user_id}", body, token=world.token)


async def login(world: World, i: int) -> Reply:
    body = {"email": world.emails[i % len(world.emails)], "password": PASSWORD}
    return await world.send("POST", "/api/tokens", body)


SCENARIOS: dict[str, tuple[Scenario, int]] = {
    "S1 GET /health": (s1, 200),
    "S2 GET /api/users/{id}": (s2, 200),
    "S2 with an API key": (s2_key, 200),
    "S3 GET /api/users?page&per_page=20": (s3, 200),
    "S4 PATCH /api/users/{own id}": (s4, 200),
    "login POST /api/tokens": (login, 201),
}


async def _child(workdir: Path, helper: Path, url: str) -> None:
    from roster.app import create_app
    from roster.db.migrations import upgrade
    from roster.serving.logs import flush_logs
    from roster.settings import Settings
    from roster.testing.plugin import TEST_HASHING

    callgrind = ctypes.CDLL(str(helper))
    # No time-sliced GIL hand-overs: threads switch where they block, the same way every run.
    sys.setswitchinterval(60)
    await asyncio.to_thread(upgrade, url)
    settings = Settings(
        database_url=url,
        log_level="INFO",
        prometheus_multiproc_dir=str(workdir / "metrics"),
        login_rate_limit="1000000/minute",
        # The mail sender's idle look for due mail, every few seconds of wall time, would fall
        # in the counted window more often the slower the machine: it looks once, at start.
        mail_poll_seconds=3600,
        # A credential's last use is written by a background task when the last write is older
        # than this, by wall time: under callgrind that write fell in some runs' windows and not
        # others' (S2 varied 3.8 %). Written once after seeding, never in a counted window.
        token_touch_seconds=10**9,
        # Log lines are written a batch every LOG_BATCH_SECONDS of wall time, which would fall
        # in one run's window and not the next's: here a window's lines are written by a flush
        # before its dump (and the lines before it, by a flush before it begins).
        log_batch_seconds=3600,
        # Likewise the metrics' batch: written by the child before each window and before its
        # dump, so a window counts writing exactly its own requests' samples.
        metrics_batch_seconds=3600,
        **TEST_HASHING.as_settings(),  # the count is Roster's, not argon2's
    )
    app = create_app(settings)
    async with app.test_app():
        world = await _seed(Asgi(app))
        runtime = app.extensions["roster"]
        await runtime.touches.flush()
        await runtime.key_touches.flush()
        callgrind.roster_start()
        for name, (scenario, expected) in SCENARIOS.items():
            for i in range(WARMUP):
                await _checked(scenario, world, i, expected)
            # Each window starts from the same state: no lines or samples queued, no collection
            # owed.
            runtime.metrics.write()
            await asyncio.to_thread(flush_logs)
            gc.collect()
            callgrind.roster_zero()
            for i in range(WARMUP, WARMUP + REQUESTS):
                await _checked(scenario, world, i, expected)
            runtime.metrics.write()
            await asyncio.to_thread(flush_logs)
            callgrind.roster_dump(name.encode())


async def _checked(scenario: Scenario, world: World, i: int, expected: int) -> None:
    reply = await scenario(world, i)
    if reply.status != expected:
        raise RuntimeError(f"{scenario.__name__}: {reply.status} {reply.body[:300]!r}")


async def _seed(send: Asgi) -> World:
    """Ten users who log in (over the API), a token of the first, and USERS more rows."""
    emails = [f"bench-{n}@example.com" for n in range(10)]
    for email in emails:
        body = {"name": "Bench", "email": email, "password": PASSWORD}
        await _expect(send("POST", "/api/users", body), 201)
    credentials = {"email": emails[0], "password": PASSWORD}
    token = (await _expect(send("POST", "/api/tokens", credentials), 201))["data"]["token"]
    db = send.app.extensions["roster"].db
    ids = await db.write(_insert_users, USERS)
    profile = await _expect(send("GET", "/api/profile", token=token), 200)
    wanted = {"name": "bench", "scopes": ["users:read"]}
    key = (await _expect(send("POST", "/api/keys", wanted, token=token), 201))["data"]["key"]
    await _expect(send("GET", f"/api/users/{ids[0]}", token=key), 200)  # its first use, noted
    return World(send, token, key, profile["data"]["id"], ids, emails)


async def _expect(reply: Awaitable[Reply], status: int) -> Any:
    answered = await reply
    if answered.status != status:
        raise RuntimeError(f"{answered.status} {answered.body[:300]!r}")
    return orjson.loads(answered.body)


def _insert_users(session: Any, n: int) -> list[int]:
    """`n` users by plain SQL (a unit of work): the ids of every user."""
    from datetime import UTC, datetime

    from sqlalchemy import insert, select

    from roster.db.models import User

    now = datetime.now(UTC)
    rows = [
        {
            "name": f"Seeded {i}",
            "email": f"seeded-{i}@example.com",
            "password_hash": "x",
            "created_at": now,
            "updated_at": now,
        }
        for i in range(n)
    ]
    session.execute(insert(User), rows)
    ids = list(session.scalars(select(User.id).order_by(User.id)))
    session.commit()
    return ids


# --- the command ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.counts", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when a count is over budget")
    parser.add_argument("--write", action="store_true", help="write the counts as the budgets")
    parser.add_argument(
        "--backend",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="count on PostgreSQL (a fresh database on 127.0.0.1:5432) to compare: the budgets"
        " are SQLite's",
    )
    parser.add_argument("--keep", type=Path, help="copy callgrind's dumps into this folder")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        asyncio.run(_child(Path(args.child[0]), Path(args.child[1]), args.child[2]))
        return 0
    recorded = json.loads(BUDGETS.read_text()) if BUDGETS.exists() else {}
    budgets: dict[str, int] = recorded.get("budgets", {})
    with tempfile.TemporaryDirectory(prefix="roster-counts-") as directory:
        try:
            counts = _counted(Path(directory), args.backend, args.keep)
        except Unavailable as error:
            print(f"bench.counts: skipped, {error}")
            return 0
    print(table(counts, budgets))
    if args.write:  # the reasons stay: say in them why the budgets moved
        recorded["budgets"] = counts
        BUDGETS.write_text(json.dumps(recorded, indent=2, ensure_ascii=False) + "\n")
    if args.check:
        over = check(counts, budgets)
        for line in over:
            print(f"OVER BUDGET {line}")
        return 1 if over else 0
    return 0


def _counted(workdir: Path, backend: str, keep: Path | None) -> dict[str, int]:
    url = postgres.create_database("_counts") if backend == "postgresql" else None
    try:
        counts = count(workdir, url)
    finally:
        if url is not None:
            postgres.drop_database(url)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        for dump in workdir.glob("callgrind.out.*"):
            shutil.copy(dump, keep / dump.name)
    return counts


if __name__ == "__main__":
    raise SystemExit(main())

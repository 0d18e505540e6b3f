"""`make bench-audit` (`python -m bench.audit_scale`): the audit log's lists at 10,000,000 events.

A fresh database (SQLite file, or a PostgreSQL database of its own), migrated; 1,000 users
seeded as `bench.population` seeds them, an admin and a reader made by `roster create-user`,
then the events seeded by one plain SQL statement (spread over 400 days, every type, actors
and targets across the users). The query plan of every list shape is written out (each must
be index walks, no sort of the table); then one hypercorn worker on one core and wrk on the
other, 64 connections per URL, and the users list's first page on the same server for
reference. The table goes to bench/results/audit-<backend>-<timestamp>.md and .json.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
from sqlalchemy import make_url
from sqlalchemy.dialects import postgresql, sqlite

from roster.db.audit import EventFilter, events_query
from roster.testing import server as harness

from . import cpus, postgres
from .population import seed_postgresql, seed_sqlite
from .report import RESULTS
from .seed import PASSWORD
from .server import REPOSITORY, BenchError
from .wrk import WrkResult, WrkRun, require_wrk

CONNECTIONS = 64
FAST_HASHING = {"ARGON2_MEMORY_KIB": "8", "ARGON2_TIME_COST": "1"}
USERS = 1_000
SPAN = timedelta(days=400)
END = datetime(2026, 12, 1, tzinfo=UTC)  # the newest seeded event (the retention keeps all)
MIDDLE = END - SPAN / 2
# Types by share of the log (per 100 events): logins dominate, as they do in real logs.
TYPES = (
    ("login.succeeded", 40),
    ("login.failed", 20),
    ("session.ended", 15),
    ("user.updated", 14),
    ("key.created", 3),
    ("key.revoked", 2),
    ("email.verified", 2),
    ("password.reset_requested", 1),
    ("password.reset", 1),
    ("user.created", 1),
    ("user.deleted", 1),
)


@dataclass(frozen=True)
class Case:
    key: str
    title: str
    path: str  # `{cursor}`, `{since}`, `{until}`, `{actor}`, `{target}` are filled in
    wanted: EventFilter | None = None  # the statement whose plan is shown


def cases(actor: int, target: int, reader: int) -> tuple[Case, ...]:
    day = (MIDDLE, MIDDLE + timedelta(days=1))
    return (
        Case("first", "first page", "/api/audit-events", EventFilter()),
        Case(
            "actor", "actor_id", "/api/audit-events?actor_id={actor}", EventFilter(actor_id=actor)
        ),
        Case(
            "target",
            "target_id",
            "/api/audit-events?target_id={target}",
            EventFilter(target_id=target),
        ),
        Case(
            "rare_type",
            "type (1 % of events)",
            "/api/audit-events?type=password.reset",
            EventFilter(types=("password.reset",)),
        ),
        Case(
            "two_types",
            "type, two (1 % each)",
            "/api/audit-events?type=user.created,user.deleted",
            EventFilter(types=("user.created", "user.deleted")),
        ),
        Case(
            "range",
            "since & until (one day, mid-log)",
            "/api/audit-events?since={since}&until={until}",
            EventFilter(since=day[0], until=day[1]),
        ),
        Case(
            "target_type",
            "target_id & type",
            "/api/audit-events?target_id={target}&type=login.failed",
            EventFilter(types=("login.failed",), target_id=target),
        ),
        Case("cursor", "deep cursor (mid-log)", "/api/audit-events?cursor={cursor}"),
        Case(
            "profile",
            "a user's own log",
            "/api/profile/audit-events",
            EventFilter(involving=reader),
        ),
        Case("users", "users list, first page (reference)", "/api/users"),
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    return parser


def _type_case(position: str) -> str:
    """SQL: the type of the event at `position` (its number modulo 100)."""
    branches, upto = [], 0
    for kind, share in TYPES:
        upto += share
        branches.append(f"WHEN {position} < {upto} THEN '{kind}'")
    return f"CASE {' '.join(branches)} END"


def _columns(i: str, users: int, moment: str) -> str:
    """SQL: the seeded event `i`'s columns; logins are anonymous, other events by a user."""
    kind = _type_case(f"({i} % 100)")
    anonymous = f"({i} % 100) < 60"
    return (
        f"{kind}, {moment}, "
        f"CASE WHEN {anonymous} THEN NULL ELSE ({i} * 7919) % {users} + 1 END, "
        f"CASE WHEN {anonymous} THEN NULL ELSE 'session' END, "
        f"CASE WHEN {anonymous} THEN NULL ELSE {i} % 50000 + 1 END, "
        f"({i} * 104729) % {users} + 1, "
        f"'203.0.113.' || ({i} % 250 + 1), "
        f"'seeded-' || {i}, "
        "'{}'"
    )


INSERTED = (
    "type, occurred_at, actor_id, credential_kind, credential_id, target_id, client_address, "
    "request_id, details"
)


def seed_events_sqlite(path: str, events: int, users: int) -> float:
    began = time.perf_counter()
    start = (END - SPAN).strftime("%Y-%m-%d %H:%M:%S")
    step = SPAN.total_seconds() / events
    moment = f"strftime('%Y-%m-%d %H:%M:%S', '{start}', '+' || CAST(i * {step} AS INTEGER) || ' seconds') || '.000000'"  # noqa: E501
    connection = sqlite3.connect(path)
    try:
        with connection:
            numbers = f"SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {events}"  # noqa: S608
            rows = f"SELECT {_columns('i', users, moment)} FROM n"  # noqa: S608
            insert = f"INSERT INTO audit_events ({INSERTED}) {rows}"
            connection.execute(f"WITH RECURSIVE n(i) AS ({numbers}) {insert}")
        connection.execute("ANALYZE")
    finally:
        connection.close()
    return time.perf_counter() - began


async def seed_events_postgresql(dsn: str, events: int, users: int) -> float:
    began = time.perf_counter()
    step = SPAN.total_seconds() / events
    moment = f"TIMESTAMPTZ '{(END - SPAN).isoformat()}' + i * INTERVAL '{step} seconds'"
    details = "'{}'::jsonb"
    columns = _columns("i", users, moment).removesuffix("'{}'") + details
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            f"INSERT INTO audit_events ({INSERTED}) SELECT {columns} "  # noqa: S608
            f"FROM generate_series(1::bigint, {events}) AS i"
        )
        await connection.execute("VACUUM ANALYZE audit_events")
    finally:
        await connection.close()
    return time.perf_counter() - began


class AuditScale:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.placement = cpus.choose()
        self.rows: list[dict[str, Any]] = []
        self.plans: dict[str, str] = {}

    def run(self) -> None:
        url, dispose = self._database()
        try:
            env = {**os.environ, **FAST_HASHING, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
            env["PYTHONPATH"] = str(REPOSITORY)
            _roster(env, "migrate")
            seconds = self._seed_users(url)
            _roster(env, "create-user", "--name", "Auditor", "--email", "auditor@example.com",
                    "--password", PASSWORD, "--admin")  # fmt: skip
            _roster(env, "create-user", "--name", "Reader", "--email", "reader@example.com",
                    "--password", PASSWORD)  # fmt: skip
            seconds += self._seed_events(url, USERS + 2)
            print(f"{self.args.backend}: seeded {self.args.events:,} events in {seconds:.0f} s")
            actor, target, reader = 7, 42, USERS + 2
            self._explain(url, cases(actor, target, reader))
            self._serve(env, actor, target, reader)
        finally:
            dispose()

    def _database(self) -> tuple[str, Any]:
        if self.args.backend == "sqlite":
            path = self.workdir / "audit.db"
            return f"sqlite+aiosqlite:///{path}", lambda: path.unlink(missing_ok=True)
        name = f"roster_audit_{os.getpid()}"
        asyncio.run(postgres.admin(f'CREATE DATABASE "{name}"'))
        url = make_url(postgres.ADMIN).set(drivername="postgresql+asyncpg", database=name)
        return url.render_as_string(hide_password=False), lambda: asyncio.run(
            postgres.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        )

    def _dsn(self, url: str) -> str:
        return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    def _seed_users(self, url: str) -> float:
        if self.args.backend == "sqlite":
            return seed_sqlite(make_url(url).database or "", USERS)
        return asyncio.run(seed_postgresql(self._dsn(url), USERS))

    def _seed_events(self, url: str, users: int) -> float:
        if self.args.backend == "sqlite":
            return seed_events_sqlite(make_url(url).database or "", self.args.events, users)
        return asyncio.run(seed_events_postgresql(self._dsn(url), self.args.events, users))

    def _explain(self, url: str, shapes: Sequence[Case]) -> None:
        """Every list shape's plan, for the page after a cursor key mid-log (the deeper)."""
        key = (MIDDLE, 10**9)
        for case in shapes:
            if case.wanted is not None:
                statement, params = events_query(case.wanted, 21, key)
                self.plans[case.key] = self._plan(url, statement.params(params))

    def _plan(self, url: str, statement: Any) -> str:
        dialect = (
            sqlite.dialect() if self.args.backend == "sqlite" else postgresql.dialect()  # type: ignore[no-untyped-call]
        )
        sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        if self.args.backend == "postgresql":
            return asyncio.run(_explain_postgresql(self._dsn(url), sql))
        connection = sqlite3.connect(make_url(url).database or "")
        try:
            rows = connection.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
        finally:
            connection.close()
        return "\n".join(row[-1] for row in rows)

    def _serve(self, env: dict[str, str], actor: int, target: int, reader: int) -> None:
        port = harness.free_port()
        command = [*self.placement.server_prefix(), *harness.hypercorn_command(port)]
        log = self.workdir / "server.log"
        with harness.running(command, port, log, env=env, cwd=REPOSITORY) as server:
            admin, user, fill = _prepare(server.base_url, actor, target)
            for case in cases(actor, target, reader):
                token = user if case.key == "profile" else admin
                result = self._wrk(server.base_url + case.path.format(**fill), token)
                self._record(case, result)

    def _wrk(self, url: str, token: str) -> WrkResult:
        run = WrkRun(
            url=url,
            script="fixed.lua",
            connections=CONNECTIONS,
            duration_s=self.args.duration,
            threads=self.placement.load_threads,
            timeout="10s",
            env={
                "ROSTER_BENCH_TOKEN": token,
                "ROSTER_BENCH_ID_MIN": "1",
                "ROSTER_BENCH_ID_MAX": "9",
            },
            prefix=tuple(self.placement.load_prefix()),
        )
        if self.args.warmup > 0:
            dataclasses.replace(run, duration_s=self.args.warmup).run()
        return run.run()

    def _record(self, case: Case, result: WrkResult) -> None:
        row = {
            "backend": self.args.backend,
            "events": self.args.events,
            "key": case.key,
            "title": case.title,
            **result.row(),
        }
        self.rows.append(row)
        print(
            f"  {case.title:<36} {row['ok_rps']:>8} req/s  p50 {row['p50_ms']} ms  "
            f"p99 {row['p99_ms']} ms  errors {row['errors']}",
            flush=True,
        )


async def _explain_postgresql(dsn: str, sql: str) -> str:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}")
    finally:
        await connection.close()
    return "\n".join(row[0] for row in rows)


def _roster(env: dict[str, str], *arguments: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "roster", *arguments],
        cwd=REPOSITORY,
        env=env,
        check=True,
        timeout=600,
        stdout=subprocess.DEVNULL,
    )


def _prepare(base_url: str, actor: int, target: int) -> tuple[str, str, dict[str, str]]:
    """The admin's and the reader's tokens, and the URLs' per-run parts (a cursor mid-log)."""
    with httpx.Client(base_url=base_url, timeout=120) as http:
        tokens = []
        for email in ("auditor@example.com", "reader@example.com"):
            login = http.post("/api/tokens", json={"email": email, "password": PASSWORD})
            if login.status_code != 201:
                raise BenchError(f"login failed: {login.status_code} {login.text}")
            tokens.append(login.json()["data"]["token"])
        middle = MIDDLE.isoformat().replace("+00:00", "Z")
        page = http.get(
            "/api/audit-events",
            params={"until": middle},
            headers={"Authorization": f"Bearer {tokens[0]}"},
        )
        cursor = page.json()["meta"]["next_cursor"] or ""
    day_after = (MIDDLE + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    fill = {
        "cursor": quote(cursor, safe=""),
        "since": quote(middle, safe=""),
        "until": quote(day_after, safe=""),
        "actor": str(actor),
        "target": str(target),
    }
    return tokens[0], tokens[1], fill


def markdown(rows: list[dict[str, Any]], plans: dict[str, str], backend: str, events: int) -> str:
    lines = [
        f"# The audit log at {events:,} events ({backend})",
        "",
        "| list | req/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['title']} | {row['ok_rps']:,.0f} | {row['p50_ms']} | {row['p99_ms']} "
            f"| {row['errors']} |"
        )
    lines += ["", "## Plans (the page after a cursor key mid-log)", ""]
    for key, plan in plans.items():
        lines += [f"### {key}", "", "```", plan, "```", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    require_wrk()
    with tempfile.TemporaryDirectory(prefix="roster-audit-") as workdir:
        scale = AuditScale(args, Path(workdir))
        scale.run()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"audit-{args.backend}-{stamp}"
    text_out = markdown(scale.rows, scale.plans, args.backend, args.events)
    (RESULTS / f"{name}.md").write_text(text_out, encoding="utf-8")
    (RESULTS / f"{name}.json").write_text(json.dumps(scale.rows, indent=2), encoding="utf-8")
    print(text_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

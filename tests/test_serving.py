"""`roster serve` as operators run it: slow clients, oversized uploads, a hypercorn config file,
and SIGTERM with hundreds of requests in flight (docs/API.md §4, shutdown)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from roster.db.connect import create_engine
from roster.http.error_handlers import NOT_A_HOST
from roster.settings import Settings

from .helpers import PASSWORD, unique_email
from .server import (
    HOST,
    Launcher,
    RawResponse,
    Server,
    close,
    raw_exchange,
    read_response,
    roster_serve,
    run_server,
)

pytestmark = pytest.mark.e2e
PRODUCTION_HASHING = {"ARGON2_MEMORY_KIB": str(19 * 1024), "ARGON2_TIME_COST": "2"}
IN_FLIGHT = 250


@contextlib.asynccontextmanager
async def connection(
    server: Server,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection(HOST, server.port)
    try:
        yield reader, writer
    finally:
        await close(writer)


async def users_stored(database_url: str) -> set[str]:
    engine = create_engine(Settings(database_url=database_url))
    try:
        async with engine.connect() as db:
            return set((await db.execute(text("SELECT email FROM users"))).scalars())
    finally:
        await engine.dispose()


# --- slow clients ------------------------------------------------------------------------------


async def test_slow_clients_cannot_stop_others_being_served(
    database_url: str, tmp_path: Path
) -> None:
    """300 connections trickle header bytes (slowloris); another client is still served at
    once, and each slow connection is closed once its head has taken HEADERS_TIMEOUT_SECONDS
    (while kept-alive connections may idle for KEEP_ALIVE_SECONDS, 75 by default)."""
    env = {"HEADERS_TIMEOUT_SECONDS": "3"}
    with run_server(database_url, env=env, launcher=roster_serve(), log_dir=tmp_path) as server:
        slow = [await asyncio.open_connection(HOST, server.port) for _ in range(300)]
        closed_at: list[float] = []
        started = time.monotonic()

        async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                for _ in range(40):  # up to 20 s, a header byte every 0.5 s
                    writer.write(b"X")
                    await writer.drain()
                    with contextlib.suppress(TimeoutError):
                        if await asyncio.wait_for(reader.read(1), 0.5) == b"":
                            break
            closed_at.append(time.monotonic() - started)
            await close(writer)

        trickling = [asyncio.ensure_future(trickle(*pair)) for pair in slow]
        latencies: list[float] = []
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as http:
            while not all(task.done() for task in trickling) and len(latencies) < 100:
                before = time.monotonic()
                assert (await http.get("/health")).status_code == 200
                latencies.append(time.monotonic() - before)
                await asyncio.sleep(0.1)
        await asyncio.gather(*trickling)
    print(
        f"/health during slowloris: {len(latencies)} requests, max {max(latencies) * 1000:.0f} ms"
    )
    assert len(closed_at) == 300
    assert max(closed_at) < 15, "the server cut every slow client"


async def test_body_that_does_not_arrive_in_time_is_408(database_url: str, tmp_path: Path) -> None:
    env = {"BODY_TIMEOUT_SECONDS": "1"}
    with run_server(database_url, env=env, launcher=roster_serve(), log_dir=tmp_path) as server:
        async with connection(server) as (reader, writer):
            writer.write(
                b"POST /api/users HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name"'
            )
            await writer.drain()
            response = await read_response(reader)
    assert response.status == 408
    assert json.loads(response.body)["error"]["code"] == "REQUEST_TIMEOUT"


async def served_health(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """`GET /health` on an open connection, answered 200."""
    writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await writer.drain()
    assert (await read_response(reader)).status == 200


async def test_a_kept_alive_connection_outlasts_the_clients_idle_time(
    database_url: str, tmp_path: Path
) -> None:
    """httpx keeps an idle connection 5 s: the server keeps it longer, so a request sent on it
    at 5 s is never met by a closing socket (HTTP/1.1's keep-alive race)."""
    with run_server(database_url, launcher=roster_serve(), log_dir=tmp_path) as server:
        async with connection(server) as (reader, writer):
            for pause in (0.0, 5.5):
                await asyncio.sleep(pause)
                await served_health(reader, writer)


async def test_an_idle_kept_alive_connection_is_closed_after_keep_alive_seconds(
    database_url: str, tmp_path: Path
) -> None:
    env = {"KEEP_ALIVE_SECONDS": "2"}
    with run_server(database_url, launcher=roster_serve(), env=env, log_dir=tmp_path) as server:
        async with connection(server) as (reader, writer):
            for _ in range(3):  # a request within the idle time keeps it
                await served_health(reader, writer)
                await asyncio.sleep(0.5)
            assert await asyncio.wait_for(reader.read(), 10) == b""  # then the server closes it


async def test_an_idle_kept_alive_connection_is_closed_at_once_on_sigterm(
    database_url: str, tmp_path: Path
) -> None:
    with run_server(database_url, launcher=roster_serve(), log_dir=tmp_path) as server:
        async with connection(server) as (reader, writer):
            await served_health(reader, writer)
            started = time.monotonic()
            server.terminate()
            assert await asyncio.wait_for(reader.read(), 10) == b""
            assert await server.wait_async() == 0
        # Not kept until KEEP_ALIVE_SECONDS (75) or the drain's end (25 s).
        assert time.monotonic() - started < 10


async def test_the_status_line_has_its_reason_and_no_server_is_named(
    database_url: str, tmp_path: Path
) -> None:
    with run_server(database_url, launcher=roster_serve(), log_dir=tmp_path) as server:
        async with connection(server) as (reader, writer):
            writer.write(b"GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert b"\r\nserver:" not in head.lower()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n", 431),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", 400),
    ],
    ids=["bad-request-line", "huge-header", "malformed-header"],
)
async def test_what_hypercorn_refuses_itself_is_still_an_envelope(
    database_url: str, tmp_path: Path, request_bytes: bytes, status: int
) -> None:
    """Requests too malformed to reach the app: the contract's JSON error all the same."""
    with run_server(database_url, launcher=roster_serve(), log_dir=tmp_path) as server:
        response = await raw_exchange(server, request_bytes)
    assert response.status == status
    assert response.header("Content-Type") == ["application/json"]
    body = json.loads(response.body)
    assert body["error"]["code"] == "BAD_REQUEST"
    assert body["error"]["details"] == {}
    assert response.header("X-Request-ID") == [body["meta"]["request_id"]]


async def test_a_host_that_is_no_host_name_is_the_envelopes_400_served(
    database_url: str, tmp_path: Path
) -> None:
    """hypercorn passes `Host: a..b` on; Roster once failed on it before its error handlers
    (a bare 500 and a traceback in the log)."""
    with run_server(database_url, launcher=roster_serve(), log_dir=tmp_path) as server:
        response = await raw_exchange(server, b"GET /health HTTP/1.1\r\nHost: a..b\r\n\r\n")
    assert response.status == 400
    body = json.loads(response.body)
    assert body["error"]["details"] == {"Host": NOT_A_HOST}
    assert "Traceback" not in server.log()


# --- start-up, and a server that dies ----------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_port_in_use_is_refused_in_one_line(
    database_url: str, tmp_path: Path, workers: int
) -> None:
    """Several workers share the parent's socket (no SO_REUSEPORT): a second server on the
    same port stops at once instead of sharing its traffic."""
    launcher = roster_serve()
    with run_server(database_url, workers=2, launcher=launcher, log_dir=tmp_path) as first:
        command = launcher(first.port, workers)
        env = {**os.environ, "DATABASE_URL": database_url}
        second = await asyncio.to_thread(
            subprocess.run, command, env=env, capture_output=True, text=True, timeout=60
        )
    assert second.returncode == 1
    assert second.stderr.strip() == f"roster: cannot listen on {HOST}:{first.port}: already in use"


async def test_workers_stop_serving_when_their_server_is_killed(
    database_url: str, tmp_path: Path
) -> None:
    """SIGKILL (or the OOM killer) of `roster serve`: no worker serves on without it, so a
    restarted server can take the port."""
    with run_server(database_url, workers=2, launcher=roster_serve(), log_dir=tmp_path) as server:
        workers = _children(server.pid)
        assert len(workers) == 2
        os.kill(server.pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        assert not any(_alive(pid) for pid in workers), "a worker outlived its server"
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(HOST, server.port)


def _children(parent: int) -> list[int]:
    """The workers: the parent's children that run Python (not its resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError):
            stat = (entry / "stat").read_text()
            ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
            command = (entry / "cmdline").read_bytes()
            if ppid == parent and b"resource_tracker" not in command:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rfind(")") + 2] not in "ZX"


# --- oversized uploads -------------------------------------------------------------------------


async def test_an_oversized_upload_is_refused_before_100_continue(
    database_url: str, tmp_path: Path
) -> None:
    with run_server(database_url, launcher=roster_serve(), log_dir=tmp_path) as server:
        async with connection(server) as (reader, writer):
            writer.write(
                b"POST /api/users HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
                + f"Content-Length: {1_100_000}\r\n\r\n".encode()
            )
            await writer.drain()
            first = await read_response(reader)
    assert first.status == 413, "no 100 Continue invites the body"
    assert json.loads(first.body)["error"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_a_body_within_the_limit_still_gets_100_continue(
    database_url: str, tmp_path: Path
) -> None:
    body = json.dumps({"name": "C", "email": unique_email(), "password": PASSWORD}).encode()
    with run_server(database_url, launcher=roster_serve(), log_dir=tmp_path) as server:
        async with connection(server) as (reader, writer):
            writer.write(
                b"POST /api/users HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
            )
            await writer.drain()
            assert (await read_response(reader)).status == 100
            writer.write(body)
            await writer.drain()
            assert (await read_response(reader)).status == 201


# --- a hypercorn config file -------------------------------------------------------------------


def serve_with_config(directory: Path) -> Launcher:
    def command(port: int, workers: int) -> list[str]:
        config = directory / "hypercorn.toml"
        config.write_text(f'bind = ["{HOST}:{port}"]\nworkers = {workers}\n')
        return [*roster_serve()(port, workers)[:2], "--config", str(config)]

    return command


async def test_serve_takes_a_hypercorn_config_file(database_url: str, tmp_path: Path) -> None:
    with run_server(
        database_url, workers=2, launcher=serve_with_config(tmp_path), log_dir=tmp_path
    ) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            assert (await http.get("/health")).status_code == 200
        assert server.log().count("Running on http://") == 2


# --- SIGTERM with requests in flight -----------------------------------------------------------


@dataclass
class Outcome:
    email: str
    response: RawResponse | None  # None: the connection was dropped


async def registrations_through_sigterm(
    server: Server, after_sigterm: Callable[[], Awaitable[None]] | None = None
) -> list[Outcome]:
    """IN_FLIGHT registrations, each on its own connection, sent in full; SIGTERM once the
    server is answering them (then `after_sigterm`, while they finish)."""
    links = [await asyncio.open_connection(HOST, server.port) for _ in range(IN_FLIGHT)]
    emails = [unique_email("drain") for _ in links]
    for (_, writer), email in zip(links, emails, strict=True):
        body = json.dumps({"name": "Drain", "email": email, "password": PASSWORD}).encode()
        writer.write(
            b"POST /api/users HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()

    async def outcome(reader: asyncio.StreamReader) -> RawResponse | None:
        try:
            return await read_response(reader)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None

    answers = [asyncio.ensure_future(outcome(reader)) for reader, _ in links]
    for answered, next_answer in enumerate(asyncio.as_completed(answers), start=1):
        await next_answer
        if answered == 10:  # the server is at work
            break
    server.terminate()
    if after_sigterm is not None:
        await after_sigterm()
    responses = await asyncio.gather(*answers)
    for _, writer in links:
        await close(writer)
    return [Outcome(email, response) for email, response in zip(emails, responses, strict=True)]


async def test_sigterm_lets_every_request_in_flight_finish(
    database_url: str, tmp_path: Path
) -> None:
    with run_server(
        database_url, env=PRODUCTION_HASHING, launcher=roster_serve(), log_dir=tmp_path
    ) as server:
        outcomes = await registrations_through_sigterm(server)
        assert await server.wait_async() == 0
    statuses = [None if o.response is None else o.response.status for o in outcomes]
    print(f"SIGTERM with {IN_FLIGHT} in flight (drain 25 s): {statuses.count(201)} x 201")
    assert statuses == [201] * IN_FLIGHT
    assert await users_stored(database_url) >= {o.email for o in outcomes}
    assert "Traceback" not in server.log()


async def test_a_connection_made_during_the_drain_is_refused_at_once(
    database_url: str, tmp_path: Path
) -> None:
    """Once the drain begins nobody accepts new connections: they are refused (or closed)
    at once, not left in the listen queue until the server exits."""
    with run_server(
        database_url, env=PRODUCTION_HASHING, launcher=roster_serve(), log_dir=tmp_path
    ) as server:
        seen: list[tuple[str, float]] = []

        async def probe() -> None:
            await asyncio.sleep(0.5)  # the workers have seen the stop
            started = time.monotonic()
            seen.append((await _try_a_request(server), time.monotonic() - started))

        outcomes = await registrations_through_sigterm(server, probe)
    (answer, waited), *_ = seen
    assert answer in ("refused", "closed"), answer
    assert waited < 2, f"the new connection waited {waited:.1f} s"
    assert [o.response.status for o in outcomes if o.response] == [201] * IN_FLIGHT


async def _try_a_request(server: Server) -> str:
    try:
        reader, writer = await asyncio.open_connection(HOST, server.port)
    except ConnectionRefusedError:
        return "refused"
    try:
        writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(100), 10)
        return "closed" if data == b"" else f"answered: {data!r}"
    except ConnectionError:
        return "closed"
    finally:
        await close(writer)


async def test_work_not_begun_by_the_end_of_the_drain_is_503_and_nothing_is_lost(
    database_url: str, tmp_path: Path
) -> None:
    """With a drain shorter than the queue of password hashes: every client gets an answer,
    201 or a JSON 503 with Retry-After, and exactly the 201s are stored."""
    env = {**PRODUCTION_HASHING, "DRAIN_SECONDS": "1", "PASSWORD_HASH_WORKERS": "1"}
    with run_server(database_url, env=env, launcher=roster_serve(), log_dir=tmp_path) as server:
        outcomes = await registrations_through_sigterm(server)
        assert await server.wait_async() == 0
    dropped = [o for o in outcomes if o.response is None]
    created = {o.email for o in outcomes if o.response is not None and o.response.status == 201}
    refused = [o for o in outcomes if o.response is not None and o.response.status == 503]
    print(
        f"SIGTERM with {IN_FLIGHT} in flight (drain 1 s): {len(created)} x 201, "
        f"{len(refused)} x 503, {len(dropped)} dropped"
    )
    assert not dropped
    assert len(created) + len(refused) == IN_FLIGHT
    assert refused, "the drain ended before the queue did"
    for outcome in refused:
        assert outcome.response is not None
        assert outcome.response.header("Retry-After")
        error = json.loads(outcome.response.body)["error"]
        assert error["code"] == "SERVICE_UNAVAILABLE"
    stored = await users_stored(database_url)
    assert created <= stored
    assert not stored & {o.email for o in refused}, "nothing committed behind a 503"

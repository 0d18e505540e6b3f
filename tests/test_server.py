"""End to end over real sockets: hypercorn serving `roster.asgi:app` on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from .helpers import PASSWORD, Json, bearer, unique_email
from .server import (
    HOST,
    PGBOUNCER,
    WORKERS,
    Server,
    close,
    login,
    raw_exchange,
    read_response,
    register,
    run_server,
)

pytestmark = pytest.mark.e2e

GENERATED_ID = re.compile(r"[0-9a-f]{32}")
VALID_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
IO_TIMEOUT = 15.0


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    with run_server(database_url, log_dir=tmp_path) as running:
        yield running


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=IO_TIMEOUT) as client:
        yield client


def assert_json_envelope(response: httpx.Response) -> Json:
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    body: Json = response.json()
    assert body["meta"]["request_id"] == response.headers["X-Request-ID"]
    return body


# --- start-up ------------------------------------------------------------------------------


async def test_health_and_readiness_over_the_wire(database_url: str, tmp_path: Path) -> None:
    with run_server(database_url, workers=2, log_dir=tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=IO_TIMEOUT) as http:
            await check_health_and_readiness(server, http)
    assert server.process.returncode == 0


async def check_health_and_readiness(server: Server, http: httpx.AsyncClient) -> None:
    health = await http.get("/health")
    assert health.status_code == 200
    body = assert_json_envelope(health)
    assert body["data"] == {"status": "ok"}
    assert GENERATED_ID.fullmatch(health.headers["X-Request-ID"])

    ready = await http.get("/health/ready", headers={"X-Request-ID": "probe-1.ready_A"})
    assert ready.status_code == 200
    body = assert_json_envelope(ready)
    assert body["data"]["status"] == "ok"
    assert ready.headers["X-Request-ID"] == "probe-1.ready_A"
    # The request's log line (the server's stderr) carries its id.
    assert await server.logged("[probe-1.ready_A]")


# --- what a client sees on the wire --------------------------------------------------------


async def test_error_responses_are_json(http: httpx.AsyncClient) -> None:
    missing = await http.get("/no/such/route")
    assert missing.status_code == 404
    assert assert_json_envelope(missing)["error"]["code"] == "NOT_FOUND"

    wrong_method = await http.delete("/health")
    assert wrong_method.status_code == 405
    assert assert_json_envelope(wrong_method)["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert "GET" in wrong_method.headers["Allow"]


async def test_204_and_304_have_no_body_and_no_content_type(http: httpx.AsyncClient) -> None:
    user = await register(http)
    token = await login(http, user["email"])

    read = await http.get(f"/api/users/{user['id']}", headers=bearer(token))
    assert read.status_code == 200
    not_modified = await http.get(
        f"/api/users/{user['id']}",
        headers={**bearer(token), "If-None-Match": read.headers["ETag"]},
    )
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert "Content-Type" not in not_modified.headers
    assert "Content-Length" not in not_modified.headers  # a 0 would misstate the 200's length
    assert not_modified.headers["ETag"] == read.headers["ETag"]
    assert not_modified.headers["X-Content-Type-Options"] == "nosniff"
    assert VALID_ID.fullmatch(not_modified.headers["X-Request-ID"])

    logged_out = await http.delete("/api/tokens/current", headers=bearer(token))
    assert logged_out.status_code == 204
    assert logged_out.content == b""
    assert "Content-Type" not in logged_out.headers
    assert "Content-Length" not in logged_out.headers  # RFC 9110 §8.6: never on a 204
    assert logged_out.headers["X-Content-Type-Options"] == "nosniff"

    revoked = await http.get("/api/profile", headers=bearer(token))
    assert revoked.status_code == 401
    assert assert_json_envelope(revoked)["error"]["code"] == "UNAUTHORIZED"
    assert revoked.headers["WWW-Authenticate"].startswith("Bearer")


# --- concurrency ---------------------------------------------------------------------------


async def resent(send: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    """Once more if a kept-alive connection was closed under the request: HTTP/1.1's
    keep-alive race, which any client retries for requests safe to repeat (these are: GETs,
    and registrations with an Idempotency-Key, so a repeat never makes a second user)."""
    try:
        return await send()
    except (httpx.RemoteProtocolError, httpx.ReadError):
        return await send()


async def test_concurrent_burst(database_url: str, tmp_path: Path) -> None:
    """300 registrations and 150 reads at once, over up to 200 connections: all answered."""
    registrations, reads = 300, 150
    workers = WORKERS if PGBOUNCER else 1
    env = {"LOG_LEVEL": "WARNING"}
    with run_server(database_url, workers=workers, log_dir=tmp_path, env=env) as server:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=60.0) as http:
            owner = await register(http)
            token = await login(http, owner["email"])
            tag = uuid.uuid4().hex[:10]

            async def one_registration(index: int) -> httpx.Response:
                body = {
                    "name": f"Burst {index}",
                    "email": f"burst-{tag}-{index}@example.com",
                    "password": PASSWORD,
                }
                key = {"Idempotency-Key": f"burst-{tag}-{index}"}
                return await resent(lambda: http.post("/api/users", json=body, headers=key))

            async def one_read(index: int) -> httpx.Response:
                if index % 3 == 0:
                    return await resent(lambda: http.get("/health"))
                if index % 3 == 1:
                    return await resent(lambda: http.get("/api/profile", headers=bearer(token)))
                return await resent(lambda: http.get("/api/users", headers=bearer(token)))

            responses = await asyncio.gather(
                *(one_registration(index) for index in range(registrations)),
                *(one_read(index) for index in range(reads)),
            )
            assert [r.status_code for r in responses if r.status_code >= 500] == []
            created = responses[:registrations]
            assert {r.status_code for r in created} == {201}
            assert {r.status_code for r in responses[registrations:]} == {200}
            ids = {r.json()["data"]["id"] for r in created}
            assert len(ids) == registrations
            assert all(isinstance(user_id, int) and user_id > 0 for user_id in ids)
            request_ids = {r.headers["X-Request-ID"] for r in responses}
            assert len(request_ids) == len(responses)

            stored: set[int] = set()
            for page in (1, 2, 3, 4):
                listing = await http.get(
                    "/api/users",
                    params={"q": f"burst-{tag}-", "per_page": 100, "page": page},
                    headers=bearer(token),
                )
                assert listing.status_code == 200
                assert listing.json()["meta"]["total"] == registrations
                stored |= {user["id"] for user in listing.json()["data"]}
            assert stored == ids

            # A token issued to one of the burst's users works.
            newcomer = created[-1].json()["data"]
            profile = await http.get(
                "/api/profile", headers=bearer(await login(http, newcomer["email"]))
            )
            assert profile.status_code == 200
            assert profile.json()["data"] == newcomer
    assert "Traceback" not in server.log()


# --- request smuggling / header injection --------------------------------------------------


INJECTIONS = {
    "bare CR": b"abc\rInjected: yes",
    "bare LF": b"abc\nInjected: yes",
    "obs-fold": b"abc\r\n Injected: yes",
    "percent-encoded": b"abc%0d%0aInjected:%20yes",
    "NUL": b"abc\x00Injected: yes",
}


async def test_crlf_in_request_id_is_never_reflected(server: Server) -> None:
    for name, value in INJECTIONS.items():
        request = (
            b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"X-Request-ID: " + value + b"\r\n\r\n"
        )
        response = await raw_exchange(server, request)

        assert response.status in (200, 400), name  # rejected by the HTTP layer, or answered
        assert response.header("Injected") == [], name
        for request_id in response.header("X-Request-ID"):
            assert VALID_ID.fullmatch(request_id), name
            assert "Injected" not in request_id, name
        if response.status == 200:
            body = json.loads(response.body)
            assert body["meta"]["request_id"] == response.header("X-Request-ID")[0], name


# --- graceful shutdown ---------------------------------------------------------------------


async def test_sigterm_lets_in_flight_requests_finish(database_url: str, tmp_path: Path) -> None:
    """Requests the server is reading when SIGTERM arrives still complete; then it exits 0."""
    production_hashing = {"ARGON2_MEMORY_KIB": str(19 * 1024), "ARGON2_TIME_COST": "2"}
    with run_server(database_url, log_dir=tmp_path, env=production_hashing) as server:
        async with contextlib.AsyncExitStack() as connections:

            async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
                reader, writer = await asyncio.open_connection(HOST, server.port)
                connections.push_async_callback(close, writer)
                return reader, writer

            # An idle keep-alive connection: the worker closes it once it begins shutting down.
            idle_reader, idle_writer = await connect()
            idle_writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            await idle_writer.drain()
            assert (await read_response(idle_reader)).status == 200

            # Registrations the app has begun handling (hypercorn answered `100 Continue` to
            # their headers), their bodies still to come.
            bodies = [
                json.dumps({"name": "Late", "email": unique_email("late"), "password": PASSWORD})
                for _ in range(3)
            ]
            in_flight = [await connect() for _ in bodies]
            for (reader, writer), body in zip(in_flight, bodies, strict=True):
                writer.write(
                    b"POST /api/users HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                )
                await writer.drain()
                assert (await read_response(reader)).status == 100

            server.terminate()
            # The worker is shutting down: it closes the idle connection, not those in flight.
            assert await asyncio.wait_for(idle_reader.read(), IO_TIMEOUT) == b""

            for (_, writer), body in zip(in_flight, bodies, strict=True):
                writer.write(body.encode())
                await writer.drain()
            for reader, _ in in_flight:
                response = await read_response(reader)
                assert response.status == 201, response
                data = json.loads(response.body)["data"]
                assert response.header("Location") == [f"/api/users/{data['id']}"]

        assert await server.wait_async() == 0
        with pytest.raises(ConnectionRefusedError):
            await asyncio.wait_for(asyncio.open_connection(HOST, server.port), IO_TIMEOUT)
    assert "Traceback" not in server.log()

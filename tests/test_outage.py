"""The database goes away and comes back under a running server (PostgreSQL).

A TCP proxy stands between hypercorn and PostgreSQL: cutting it drops every connection and
refuses new ones, as a stopped or unreachable server would; black-holing it keeps every
connection open and accepts new ones but forwards nothing, as a network that drops packets
would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import make_url

from tests.conftest import BACKEND
from tests.helpers import PASSWORD, bearer, unique_email
from tests.server import Server, free_port, login, register, run_server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(BACKEND != "postgresql", reason="needs a database server to lose"),
]
RECOVERY_SECONDS = 30


class CuttableProxy:
    """Forwards 127.0.0.1:`port` to the database until cut; `restore` listens again."""

    def __init__(self, port: int, target_host: str, target_port: int) -> None:
        self.port = port
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self.holding = False  # black-holed: nothing is forwarded either way

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    def black_hole(self, holding: bool = True) -> None:
        self.holding = holding

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while self.holding:  # a new connection is accepted, and then nothing answers
            if not await reader.read(65536):
                writer.transport.abort()
                return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._links |= {writer, upstream_writer}
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                if self.holding:
                    continue  # dropped on the floor
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
        self._links.discard(writer)


@pytest.fixture
def proxy_port() -> int:
    return free_port()


@pytest.fixture
async def proxy(database_url: str, proxy_port: int) -> AsyncIterator[CuttableProxy]:
    url = make_url(database_url)
    link = CuttableProxy(proxy_port, url.host or "127.0.0.1", url.port or 5432)
    await link.restore()
    yield link
    await link.cut()


@pytest.fixture
def server(
    database_url: str, proxy_port: int, proxy: CuttableProxy, tmp_path: Path
) -> Iterator[Server]:
    through_proxy = make_url(database_url).set(host="127.0.0.1", port=proxy_port)
    env = {
        "DB_CONNECT_TIMEOUT": "2",
        "DB_POOL_TIMEOUT": "2",
        "DB_COMMAND_TIMEOUT": "2",
        "RETRY_AFTER_SECONDS": "3",
    }
    with run_server(
        through_proxy.render_as_string(hide_password=False), env=env, log_dir=tmp_path
    ) as running:
        yield running


async def test_unreachable_database_gives_503_and_the_service_recovers(
    server: Server, proxy: CuttableProxy
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=20) as http:
        email = (await register(http, name="Outage", email=unique_email("o")))["email"]
        auth = bearer(await login(http, email))
        assert (await http.get("/health/ready")).status_code == 200

        await proxy.cut()

        assert (await http.get("/health")).status_code == 200
        for response in (
            await http.get("/health/ready"),
            await http.get("/api/profile", headers=auth),
            await http.get("/api/users", headers=auth),
            await http.patch("/api/users/1", json={"name": "X"}, headers=auth),
            await http.post("/api/tokens", json={"email": email, "password": PASSWORD}),
        ):
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"] == "3"
            body = response.json()
            assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
            assert body["error"]["details"] == {"Retry-After": "Retry in 3 seconds"}
            assert body["meta"]["request_id"] == response.headers["X-Request-ID"]

        await proxy.restore()

        for _ in range(RECOVERY_SECONDS * 4):
            if (await http.get("/health/ready")).status_code == 200:
                break
            await asyncio.sleep(0.25)
        profile = await http.get("/api/profile", headers=auth)
        assert profile.status_code == 200, profile.text
        assert profile.json()["data"]["email"] == email
    assert "Traceback" not in server.log()


async def test_connections_the_database_dropped_are_replaced_and_no_request_fails(
    server: Server, proxy: CuttableProxy
) -> None:
    """A restart or a failover between two requests: every pooled connection is dead, the
    server is back. The next requests (the caller's read first, by asyncpg or SQLAlchemy;
    lists; writes) each find a dead connection, replace it and answer."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=20) as http:
        email = (await register(http, name="Failover", email=unique_email("f")))["email"]
        auth = bearer(await login(http, email))
        mine = (await http.get("/api/profile", headers=auth)).json()["data"]["id"]
        await asyncio.gather(*(http.get(f"/api/users/{mine}", headers=auth) for _ in range(8)))

        await proxy.cut()  # every pooled connection dies
        await proxy.restore()

        answers = [await http.get(f"/api/users/{mine}", headers=auth) for _ in range(12)]
        answers += [
            await http.get("/api/users", headers=auth),
            await http.patch(f"/api/users/{mine}", json={"name": "Back"}, headers=auth),
        ]
        assert [answer.status_code for answer in answers] == [200] * 14, answers[-1].text
        assert answers[-1].json()["data"]["name"] == "Back"
    assert "Traceback" not in server.log()


async def test_a_network_that_drops_packets_gives_503_within_the_bounds(
    server: Server, proxy: CuttableProxy
) -> None:
    """Connecting, waiting for a pooled connection and every statement are bounded: requests
    get 503 in seconds, not after the partition (it would otherwise hold them as long as it
    lasts)."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as http:
        email = (await register(http, name="Partition", email=unique_email("p")))["email"]
        auth = bearer(await login(http, email))
        assert (await http.get("/api/profile", headers=auth)).status_code == 200

        proxy.black_hole()
        assert (await http.get("/health")).status_code == 200
        requests = {
            "profile": http.get("/api/profile", headers=auth),
            "list": http.get("/api/users", headers=auth),
            "patch": http.patch("/api/users/1", json={"name": "X"}, headers=auth),
            "login": http.post("/api/tokens", json={"email": email, "password": PASSWORD}),
            "ready": http.get("/health/ready"),
        }
        started = asyncio.get_running_loop().time()
        responses = await asyncio.gather(*requests.values())
        elapsed = asyncio.get_running_loop().time() - started
        print(f"black-holed PostgreSQL: {len(responses)} requests answered 503 in {elapsed:.1f} s")
        for name, response in zip(requests, responses, strict=True):
            assert response.status_code == 503, (name, response.text)
            assert response.headers["Retry-After"] == "3", name
            assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE", name

        proxy.black_hole(False)
        for _ in range(RECOVERY_SECONDS * 4):
            if (await http.get("/health/ready")).status_code == 200:
                break
            await asyncio.sleep(0.25)
        assert (await http.get("/api/profile", headers=auth)).status_code == 200
    assert "Traceback" not in server.log()

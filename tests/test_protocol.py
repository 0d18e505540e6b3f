"""Roster's HTTP/1.1 protocol for hypercorn, driven as hypercorn's TCP server drives it: what it
writes to the client's socket, write by write (the served tests see only the bytes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypercorn.app_wrappers import ASGIWrapper
from hypercorn.asyncio.task_group import TaskGroup
from hypercorn.asyncio.worker_context import WorkerContext
from hypercorn.config import Config
from hypercorn.events import Closed, Event, RawData, Updated
from hypercorn.typing import ConnectionState

from roster.serving.protocol import h11_protocol

REQUEST = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
BODY = b'{"data":{"status":"ok"}}\n'


class Connection:
    """One client connection to the protocol: what the client sends it, and the bytes of each
    write the protocol makes to the client's socket, in order."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.written = asyncio.Event()
        self.closed = asyncio.Event()
        self.updates: list[bool] = []  # what the server was told of idleness (its timer)
        self.protocol: Any = None

    async def send(self, event: Event) -> None:  # the protocol's way to the server's socket
        if isinstance(event, RawData) and event.data:
            self.writes.append(event.data)
            self.written.set()
        elif isinstance(event, Updated):
            self.updates.append(event.idle)
        elif isinstance(event, Closed):
            self.closed.set()

    async def request(self, data: bytes) -> None:
        await self.protocol.handle(RawData(data=data))

    async def next_write(self) -> bytes:
        await asyncio.wait_for(self.written.wait(), 5)
        self.written.clear()
        return self.writes[-1]


def app_answering(body_delay: float | None) -> Any:
    """An ASGI app whose response's body follows its head at once, or `body_delay` s later."""

    async def app(scope: dict[str, Any], _receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if body_delay is not None:
            await asyncio.sleep(body_delay)
        await send({"type": "http.response.body", "body": BODY})

    return app


@pytest.fixture
def worker() -> WorkerContext:
    return WorkerContext(None)


@pytest.fixture
async def connect(worker: WorkerContext) -> AsyncIterator[Any]:
    """Opens a connection served by Roster's protocol, as hypercorn's TCP server opens one."""
    async with TaskGroup(asyncio.get_running_loop()) as group:
        opened: list[Connection] = []

        async def open_to(app: Any, keep_alive: float = 5.0, head_time: float = 5.0) -> Connection:
            connection = Connection()
            config = Config()
            config.keep_alive_timeout = keep_alive
            connection.protocol = h11_protocol(max_content_length=1024, headers_timeout=head_time)(
                ASGIWrapper(app),
                config,
                worker,
                group,
                ConnectionState({}),
                False,
                ("127.0.0.1", 50000),
                ("127.0.0.1", 8000),
                connection.send,
            )
            await connection.protocol.initiate()
            opened.append(connection)
            return connection

        yield open_to
        for connection in opened:
            await connection.protocol.handle(Closed())


async def test_a_response_is_one_write_of_its_head_and_body(connect: Any) -> None:
    connection = await connect(app_answering(body_delay=None))
    for _ in range(2):  # and the next request on the kept-alive connection
        await connection.request(REQUEST)
        written = await connection.next_write()
        assert written.startswith(b"HTTP/1.1 200 OK\r\n")
        assert written.endswith(b"\r\n\r\n" + BODY)
        await asyncio.sleep(0.05)
        assert connection.writes[-1] is written  # nothing more was written
    assert len(connection.writes) == 2


async def test_a_head_whose_body_is_late_goes_out_alone_at_once(connect: Any) -> None:
    connection = await connect(app_answering(body_delay=0.5))
    await connection.request(REQUEST)
    head = await asyncio.wait_for(connection.next_write(), 0.4)  # before the body is sent
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert head.endswith(b"\r\n\r\n")
    assert await connection.next_write() == BODY
    assert len(connection.writes) == 2


async def test_what_hypercorn_refuses_itself_is_one_write_too(connect: Any) -> None:
    connection = await connect(app_answering(body_delay=None))
    await connection.request(b"GET / HTTP/1.1\r\nHost: example.com\r\nBad Header\r\n\r\n")
    written = await connection.next_write()
    assert written.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b'"code":"BAD_REQUEST"' in written
    await asyncio.sleep(0.05)
    assert connection.writes == [written]


async def test_an_idle_connection_is_let_go_after_the_keep_alive_time(connect: Any) -> None:
    connection = await connect(app_answering(body_delay=None), keep_alive=1.0)
    for _ in range(3):  # each request starts the idle time again
        await connection.request(REQUEST)
        await connection.next_write()
        await asyncio.sleep(0.4)
        assert not connection.closed.is_set()
    await asyncio.wait_for(connection.closed.wait(), 2)
    # The server's own timer (of the opening) was stopped once, and never started again.
    assert connection.updates == [False]


async def test_idle_connections_are_let_go_when_the_worker_stops(
    connect: Any, worker: WorkerContext
) -> None:
    idle = await connect(app_answering(body_delay=None))
    await idle.request(REQUEST)
    await idle.next_write()
    busy = await connect(app_answering(body_delay=0.3))
    await busy.request(REQUEST)
    await busy.next_write()  # its head: the body is on its way
    await worker.terminated.set()
    await asyncio.wait_for(idle.closed.wait(), 1)
    assert not busy.closed.is_set()
    assert await busy.next_write() == BODY  # the request in flight is answered, then let go
    await asyncio.wait_for(busy.closed.wait(), 1)


async def test_a_head_in_parts_is_served_and_one_too_slow_is_let_go(connect: Any) -> None:
    connection = await connect(app_answering(body_delay=None), head_time=1.0)
    await connection.request(REQUEST)  # a whole head, at once: no timer is needed
    await connection.next_write()
    await asyncio.sleep(1.2)  # idle for longer than a head may take is still fine
    await connection.request(REQUEST[:10])
    await asyncio.sleep(0.2)
    await connection.request(REQUEST[10:])
    assert (await connection.next_write()).startswith(b"HTTP/1.1 200 OK")
    await connection.request(REQUEST[:10])  # then nothing more
    await asyncio.wait_for(connection.closed.wait(), 3)
    assert len(connection.writes) == 2

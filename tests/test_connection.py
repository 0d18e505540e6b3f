"""The lean ASGI connection (roster/http/connection.py) keeps Quart's promises: a client that
disconnects ends its request's handler, a request body is still read, and a cancellation from
outside (the server stopping) is not swallowed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from quart import Quart, request

from roster.http.connection import LeanHTTPConnection


def _app(events: dict[str, asyncio.Event]) -> Quart:
    app = Quart("lean")
    app.asgi_http_class = LeanHTTPConnection

    @app.get("/slow")
    async def slow() -> str:
        events["started"].set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            events["cancelled"].set()
            raise
        return "never"

    @app.post("/echo")
    async def echo() -> str | bytes:
        return await request.get_data(as_text=False)

    return app


def _scope(method: str, path: str, body: bytes = b"") -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
        "headers": [(b"host", b"x"), (b"content-length", str(len(body)).encode())],
        "extensions": {},
    }  # fmt: skip


class Client:
    """One ASGI request: its messages in, what the app sent out."""

    def __init__(self, body: bytes = b"") -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.inbox.put_nowait({"type": "http.request", "body": body, "more_body": False})
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        return await self.inbox.get()

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


def _call(app: Quart, scope: dict[str, Any], client: Client) -> Any:
    asgi: Any = app  # the test's plain dicts stand in for hypercorn's typed messages
    return asgi(scope, client.receive, client.send)


@pytest.fixture
def events() -> dict[str, asyncio.Event]:
    return {"started": asyncio.Event(), "cancelled": asyncio.Event()}


async def test_a_disconnect_ends_the_handler(
    events: dict[str, asyncio.Event],
) -> None:
    app, client = _app(events), Client()
    call = asyncio.ensure_future(_call(app, _scope("GET", "/slow"), client))
    await asyncio.wait_for(events["started"].wait(), 5)
    client.inbox.put_nowait({"type": "http.disconnect"})
    await asyncio.wait_for(call, 5)  # returns, no exception: the request is over
    assert events["cancelled"].is_set()
    assert not call.cancelled()
    assert client.sent == []  # nobody to answer


async def test_a_cancellation_from_outside_is_passed_on(events: dict[str, asyncio.Event]) -> None:
    app, client = _app(events), Client()
    call = asyncio.ensure_future(_call(app, _scope("GET", "/slow"), client))
    await asyncio.wait_for(events["started"].wait(), 5)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert events["cancelled"].is_set()


async def test_a_body_is_read_and_answered(events: dict[str, asyncio.Event]) -> None:
    app, client = _app(events), Client(b"hello")
    await asyncio.wait_for(_call(app, _scope("POST", "/echo", b"hello"), client), 5)
    assert client.sent[0]["status"] == 200
    assert b"".join(m.get("body", b"") for m in client.sent[1:]) == b"hello"

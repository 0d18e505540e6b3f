"""The two floors Roster's figures are compared with, served by the same hypercorn command.

- `bare_app`: a raw ASGI callable, the cost of hypercorn itself.
- `quart_app`: a minimal Quart app with one `/health` route, the cost of the framework.

Both answer `GET /health` with a body of the same size and shape as Roster's
(`{"data": {"status": "ok"}, "meta": {"request_id": "<32 hex>"}}` plus a newline) and the
same headers, so the only difference left is what the service does per request.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from quart import Quart

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_NOT_FOUND = b'{"error":{"code":"NOT_FOUND","message":"Not found","details":{}}}\n'


def health_body(request_id: str) -> bytes:
    return b'{"data":{"status":"ok"},"meta":{"request_id":"' + request_id.encode() + b'"}}\n'


async def bare_app(scope: Scope, receive: Receive, send: Send) -> None:
    """ASGI, nothing else: `/health` → 200, anything else → 404; lifespan acknowledged."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    request_id = uuid.uuid4().hex
    found = scope["path"] == "/health" and scope["method"] == "GET"
    body = health_body(request_id) if found else _NOT_FOUND
    await send(
        {
            "type": "http.response.start",
            "status": 200 if found else 404,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
                (b"x-content-type-options", b"nosniff"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_quart_app() -> Quart:
    app = Quart("bench_floor", static_folder=None)

    @app.get("/health")
    async def health() -> tuple[dict[str, Any], int, dict[str, str]]:
        request_id = uuid.uuid4().hex
        body = {"data": {"status": "ok"}, "meta": {"request_id": request_id}}
        return body, 200, {"X-Request-ID": request_id, "X-Content-Type-Options": "nosniff"}

    return app


quart_app = create_quart_app()

FLOOR_APPS = {"bare-asgi": "bench.floors:bare_app", "quart-minimal": "bench.floors:quart_app"}
ROSTER_APP = "roster.asgi:app"

"""Quart's ASGI HTTP connection with two tasks fewer per request.

Quart runs each request's handler in a task of its own beside a task that reads the request's
messages, waits for either with `asyncio.wait`, and sends the response inside `wait_for`, which
on Python 3.11 is one more task and a timer. Here the handler runs in the task the server gave
the request, the reader cancels it when the client disconnects (as Quart's `wait` did), and the
response is sent inside `asyncio.timeout`. What a client sees does not change.
"""

from __future__ import annotations

import asyncio

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable
from quart.asgi import ASGIHTTPConnection
from quart.debug import traceback_response
from quart.wrappers import Request, Response


class LeanHTTPConnection(ASGIHTTPConnection):
    async def __call__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        request = self._create_request_from_scope(send)
        handler = asyncio.current_task()
        if handler is None:  # not in a task: Quart's way
            await super().__call__(receive, send)
            return
        gone = asyncio.Event()
        reader = asyncio.ensure_future(self._read(request, receive, handler, gone))
        try:
            await self.handle_request(request, send)
        except asyncio.CancelledError:
            if not gone.is_set() or handler.uncancel() > 0:
                raise  # cancelled by someone else: the server stopping, say
        finally:
            reader.cancel()

    async def _read(
        self,
        request: Request,
        receive: ASGIReceiveCallable,
        handler: asyncio.Task[object],
        gone: asyncio.Event,
    ) -> None:
        await self.handle_messages(request, receive)  # returns when the client disconnects
        gone.set()
        handler.cancel()

    async def handle_request(self, request: Request, send: ASGISendCallable) -> None:
        try:
            response = await self.app.handle_request(request)
        except Exception as error:
            if not (self.app.debug or self.app.testing):
                raise
            response = await traceback_response(error)
        timeout = self.app.config["RESPONSE_TIMEOUT"]
        if isinstance(response, Response) and response.timeout is not Ellipsis:
            timeout = response.timeout
        try:
            async with asyncio.timeout(timeout):
                await self._send_response(send, response)
        except TimeoutError:
            pass

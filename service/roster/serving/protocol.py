"""Roster's HTTP/1.1 protocol for hypercorn (`roster serve`): hypercorn's own, where it answers
for the app or times a client out.

- A request head must arrive within HEADERS_TIMEOUT_SECONDS of its first byte (of the
  connection's opening, for its first request), while an idle kept-alive connection may wait
  KEEP_ALIVE_SECONDS for its next: a slow client (slowloris) is cut in seconds without cutting
  kept-alive connections before their clients let them go.
- `Expect: 100-continue` with a declared body over MAX_CONTENT_LENGTH gets no 100: the app's
  413 comes at once, not after the upload.
- The status line carries its reason phrase.
- A response's head goes out with what follows it (its body, or its end) in one write: one
  `send` a response instead of two, and one TCP segment for a small response.
- A kept-alive connection's idle time is a timer of its own: hypercorn's server would start a
  task (and, inside it, `wait_for`'s task) at every response and cancel both at the next
  request. Idle connections are still closed at once when the worker stops.
- A request hypercorn refuses itself (a malformed request line, headers too large) gets the
  contract's JSON error envelope with a request id, not an empty body.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from http import HTTPStatus
from itertools import chain
from typing import Any

import h11
import orjson
from hypercorn import protocol as hypercorn_protocol
from hypercorn.events import Closed, Event, RawData, Updated
from hypercorn.protocol.h11 import H11Protocol

# The loop runs a timer up to its clock's resolution early: this much left is no time left.
IDLE_SLACK_SECONDS = 0.005


def install(max_content_length: int, headers_timeout: float) -> None:
    """Make hypercorn's HTTP/1.1 connections in this process Roster's."""
    # Where hypercorn's ProtocolWrapper looks the HTTP/1.1 protocol up.
    hypercorn_protocol.H11Protocol = h11_protocol(max_content_length, headers_timeout)  # type: ignore[attr-defined]


def h11_protocol(max_content_length: int, headers_timeout: float) -> type[H11Protocol]:
    """Hypercorn's HTTP/1.1 protocol, Roster's way (the module's docstring)."""

    class RosterH11Protocol(H11Protocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._head_timer: asyncio.TimerHandle | None = None
            self._head = b""  # a response's head, waiting for what follows it
            self._holding = False  # a head is being written: its bytes wait in `_head`
            self._idle_timer: asyncio.TimerHandle | None = None
            self._idle_since: float | None = None  # the loop's time when last idle began
            self._server_times_idle = True  # the server's own timer, from the opening
            self._stopping: asyncio.Future[None] | None = None
            self._to_server = self.send
            self.send = self._send_after_head

        async def initiate(self) -> None:
            await super().initiate()
            self._time_the_head()
            self._stopping = asyncio.ensure_future(self._close_if_idle_when_stopping())

        async def handle(self, event: Event) -> None:
            if isinstance(event, Closed):
                self._stop_timing()
                self._stop_idle_timer()
                if self._stopping is not None:
                    self._stopping.cancel()
            await super().handle(event)
            # A head that came whole needs no timer: only a part of one is timed, from now.
            if isinstance(event, RawData) and self.stream is None and self._reading_a_head():
                self._time_the_head()

        def _reading_a_head(self) -> bool:
            return isinstance(self.connection, h11.Connection) and (
                self.connection.their_state is h11.IDLE
            )

        async def _create_stream(self, request: h11.Request) -> None:
            self._stop_timing()
            if _declared_length(request) > max_content_length and isinstance(
                self.connection, h11.Connection
            ):
                self.connection.client_is_waiting_for_100_continue = False
            await super()._create_stream(request)

        async def _send_h11_event(self, event: Any) -> None:
            if not isinstance(event, h11.Response):
                await super()._send_h11_event(event)
                return
            if not event.reason:
                event = h11.Response(
                    status_code=event.status_code,
                    headers=event.headers,
                    http_version=event.http_version,
                    reason=_reason(event.status_code),
                )
            self._holding = True
            try:
                await super()._send_h11_event(event)
            finally:
                self._holding = False
            # The body follows at once (the same step of the loop); a streamed body that does
            # not would find its head sent on the loop's next step.
            asyncio.get_running_loop().call_soon(self._head_alone)

        async def _send_after_head(self, event: Event) -> None:
            """Every event to the server (to the client), after the head that waits (in the
            same write); the connection's idleness is timed here."""
            if isinstance(event, Updated):
                await self._idle(event.idle)
                return
            if self._holding and isinstance(event, RawData):
                self._head += event.data
                return
            head, self._head = self._head, b""
            if head and isinstance(event, RawData):
                event = RawData(data=head + event.data, address=event.address)
            elif head:
                await self._to_server(RawData(data=head))
            await self._to_server(event)

        async def _idle(self, idle: bool) -> None:
            if not idle:
                self._idle_since = None
                if self._server_times_idle:  # its timer from the opening stops, once
                    self._server_times_idle = False
                    await self._to_server(Updated(idle=False))
            else:  # (a worker that stops closes a connection instead: hypercorn's recycling)
                self._idle_since = loop_time = asyncio.get_running_loop().time()
                if self._idle_timer is None:  # one timer, moved on when it finds work
                    self._time_idleness(loop_time + self.config.keep_alive_timeout)

        def _time_idleness(self, deadline: float) -> None:
            loop = asyncio.get_running_loop()
            self._idle_timer = loop.call_at(deadline, self._idle_too_long)

        def _idle_too_long(self) -> None:
            self._idle_timer = None
            if self._idle_since is None:
                return  # at work: timed again when next idle
            deadline = self._idle_since + self.config.keep_alive_timeout
            if deadline - asyncio.get_running_loop().time() > IDLE_SLACK_SECONDS:
                self._time_idleness(deadline)  # idle again since the timer was set
            else:
                self._let_go()

        def _stop_idle_timer(self) -> None:
            self._idle_since = None
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None

        async def _close_if_idle_when_stopping(self) -> None:
            await self.context.terminated.wait()
            if self._idle_since is not None:
                self._let_go()

        def _head_alone(self) -> None:
            if self._head:
                task = asyncio.ensure_future(self.send(RawData(data=b"")))
                task.add_done_callback(_ignore)

        async def _send_error_response(self, status_code: int) -> None:
            body, request_id = _error_envelope(status_code)
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
                (b"x-content-type-options", b"nosniff"),
                (b"connection", b"close"),
            ]
            response = h11.Response(
                status_code=status_code,
                headers=list(chain(headers, self.config.response_headers("h11"))),
                reason=_reason(status_code),
            )
            await self._send_h11_event(response)
            await self._send_h11_event(h11.Data(data=body))
            await self._send_h11_event(h11.EndOfMessage())

        def _time_the_head(self) -> None:
            if self._head_timer is None:
                loop = asyncio.get_running_loop()
                self._head_timer = loop.call_later(headers_timeout, self._head_too_slow)

        def _stop_timing(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_too_slow(self) -> None:
            self._head_timer = None
            if self.stream is None:  # still no whole request head: let the connection go
                self._let_go()

        def _let_go(self) -> None:
            self._stop_idle_timer()
            task = asyncio.ensure_future(self.send(Closed()))
            task.add_done_callback(_ignore)

    return RosterH11Protocol


def _declared_length(request: h11.Request) -> int:
    for name, value in request.headers:
        if name == b"content-length":
            with contextlib.suppress(ValueError):
                return int(value)
    return 0


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


_CODES = {400: "BAD_REQUEST", 408: "REQUEST_TIMEOUT", 413: "PAYLOAD_TOO_LARGE"}
_MESSAGES = {
    400: "Malformed request",
    413: "Request body is too large",
    431: "Request header fields are too large",
}


def _error_envelope(status: int) -> tuple[bytes, str]:
    request_id = f"{random.getrandbits(128):032x}"
    error = {
        "code": _CODES.get(status, "BAD_REQUEST"),
        "message": _MESSAGES.get(status, "Malformed request"),
        "details": {},
    }
    return orjson.dumps({"error": error, "meta": {"request_id": request_id}}), request_id


def _ignore(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()

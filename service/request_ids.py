"""Request IDs: taken from `X-Request-ID` when well formed, otherwise made; kept for logging."""

from __future__ import annotations

import contextvars
import random
import re

from quart import g, has_request_context, request

HEADER = "X-Request-ID"
_VALID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_current: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def assign_request_id() -> str:
    supplied = request.headers.get(HEADER, "")
    request_id = supplied if _VALID.fullmatch(supplied) else _new_request_id()
    g.request_id = request_id
    _current.set(request_id)
    return request_id


def _new_request_id() -> str:
    """32 hex characters from Python's PRNG: seeded from the OS per process (and again after a
    fork), so ids stay unique across workers. Not `secrets`: `os.urandom` is a syscall that lets
    go of the GIL, and under load the event loop then waits for a database thread to hand it back.
    A request id is an identifier, not a secret."""
    return f"{random.getrandbits(128):032x}"


def current_request_id() -> str:
    """The id of the request being handled (assigned on first use if the hooks did not run)."""
    if not has_request_context():
        return _current.get()
    request_id: str | None = g.get("request_id")
    return request_id if request_id is not None else assign_request_id()


def request_id_for_logs() -> str:
    return _current.get()

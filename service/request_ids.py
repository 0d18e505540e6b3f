"""Request IDs: taken from `X-Request-ID` when well formed, otherwise made; kept for logging."""

from __future__ import annotations

import contextvars
import re
import secrets

from quart import g, has_request_context, request

HEADER = "X-Request-ID"
_VALID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_current: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def assign_request_id() -> str:
    supplied = request.headers.get(HEADER, "")
    request_id = supplied if _VALID.fullmatch(supplied) else secrets.token_hex(16)
    g.request_id = request_id
    _current.set(request_id)
    return request_id


def current_request_id() -> str:
    """The id of the request being handled (assigned on first use if the hooks did not run)."""
    if not has_request_context():
        return _current.get()
    request_id: str | None = g.get("request_id")
    return request_id if request_id is not None else assign_request_id()


def request_id_for_logs() -> str:
    return _current.get()

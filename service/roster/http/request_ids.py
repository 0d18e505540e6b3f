"""Request IDs (docs/API.md §1): taken from `X-Request-ID` when well formed, otherwise made."""

from __future__ import annotations

import random
import re

from quart import Request, has_request_context

from ..serving.logs import current_log_request_id, log_request_id
from .context import Globals, current_g, current_request

HEADER = "X-Request-ID"
_VALID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def assign_request_id(request: Request, store: Globals) -> str:
    """`request`'s id, kept in its `g` (`store`) and the log context."""
    supplied = request.headers.get(HEADER, "")
    request_id = supplied if _VALID.fullmatch(supplied) else _new_request_id()
    store.request_id = request_id
    log_request_id(request_id)
    return request_id


def _new_request_id() -> str:
    """32 hex characters from Python's PRNG, seeded per process (and again after a fork): an
    identifier, not a secret, and `os.urandom` would let go of the GIL on the hot path."""
    return f"{random.getrandbits(128):032x}"


def current_request_id() -> str:
    """The id of the request being handled (assigned on first use if the hooks did not run)."""
    if not has_request_context():
        return current_log_request_id()
    store = current_g()
    request_id: str | None = store.get("request_id")
    return request_id if request_id is not None else assign_request_id(current_request(), store)

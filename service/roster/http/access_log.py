"""One access line per request (docs/API.md §4, Logs), and its metrics sample."""

from __future__ import annotations

import logging
import time

from quart import Request, Response

from ..serving.metrics import Metrics
from .client_address import client_address_of
from .context import Globals
from .routing import route_template

access_log = logging.getLogger("roster.access")
LINE = "%s %s %d %.1fms client=%s user=%s"


def start_clock(store: Globals) -> None:
    store.started = time.perf_counter()


def log_response(
    request: Request, store: Globals, response: Response, metrics: Metrics, trusted_hops: int
) -> None:
    """`request`'s metrics sample and access line (`store`: its `g`)."""
    started: float | None = store.get("started")
    seconds = 0.0 if started is None else time.perf_counter() - started
    method, status = request.method, response.status_code
    metrics.observe_request(route_template(request.url_rule), method, status, seconds)
    if access_log.isEnabledFor(logging.INFO):
        address = client_address_of(request, store, trusted_hops)
        caller = store.get("caller")
        user_id = None if caller is None else caller.user.id
        _log_access(method, request.path, status, seconds, address, user_id)


def _log_access(
    method: str, path: str, status: int, seconds: float, address: str, user_id: int | None
) -> None:
    fields = {
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "client_address": address,
        "user_id": user_id,
    }
    args = (method, path, status, seconds * 1000, address, "-" if user_id is None else user_id)
    # Made and handled directly: `info()` would first walk the stack for the caller's line.
    record = access_log.makeRecord(
        access_log.name, logging.INFO, __file__, 0, LINE, args, None, extra={"access": fields}
    )
    access_log.handle(record)

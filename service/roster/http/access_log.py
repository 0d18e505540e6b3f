"""One access line per request (docs/API.md §4, Logs), and its metrics sample."""

from __future__ import annotations

import logging
import time

from quart import Response

from ..serving.metrics import Metrics
from .client_address import current_client_address
from .context import current_g, current_request
from .routing import route_template

access_log = logging.getLogger("roster.access")
LINE = "%s %s %d %.1fms client=%s user=%s"


def start_clock() -> None:
    current_g().started = time.perf_counter()


def log_response(response: Response, metrics: Metrics, trusted_hops: int) -> None:
    started: float | None = current_g().get("started")
    seconds = 0.0 if started is None else time.perf_counter() - started
    request = current_request()
    method, status = request.method, response.status_code
    metrics.observe_request(route_template(request.url_rule), method, status, seconds)
    if access_log.isEnabledFor(logging.INFO):
        address = current_client_address(trusted_hops)
        _log_access(method, request.path, status, seconds, address)


def _log_access(method: str, path: str, status: int, seconds: float, address: str) -> None:
    caller = current_g().get("caller")
    user_id = None if caller is None else caller.user.id
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

"""One access line per request (docs/API.md §4, Logs), and its metrics sample."""

from __future__ import annotations

import logging
import time

from quart import Response, g, request

from ..serving.metrics import Metrics
from .client_address import current_client_address
from .routing import route_template

access_log = logging.getLogger("roster.access")


def start_clock() -> None:
    g.started = time.perf_counter()


def log_response(response: Response, metrics: Metrics, trusted_hops: int) -> None:
    started: float | None = g.get("started")
    seconds = 0.0 if started is None else time.perf_counter() - started
    status = response.status_code
    metrics.observe_request(route_template(request.url_rule), request.method, status, seconds)
    caller = g.get("caller")
    user_id = None if caller is None else caller.user.id
    address = current_client_address(trusted_hops)
    fields = {
        "method": request.method,
        "path": request.path,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "client_address": address,
        "user_id": user_id,
    }
    access_log.info(
        "%s %s %d %.1fms client=%s user=%s",
        request.method,
        request.path,
        status,
        seconds * 1000,
        address,
        "-" if user_id is None else user_id,
        extra={"access": fields},
    )

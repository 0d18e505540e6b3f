"""Per-request hooks: request id and clock, the early 413, 404 for a path no method matches,
OPTIONS, and what every response gets (request id, nosniff, CORS, the access line)."""

from __future__ import annotations

from quart import Quart, Request, Response
from werkzeug.exceptions import MethodNotAllowed, NotFound

from ..serving.metrics import Metrics
from ..settings import Settings
from .access_log import log_response, start_clock
from .context import current_g, current_request
from .cors import add_cors_headers, options_response
from .request_ids import HEADER, assign_request_id
from .routing import path_is_a_route_for

BODILESS = frozenset({204, 304})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PRIVATE = "private, no-cache"


def register_hooks(app: Quart, settings: Settings, metrics: Metrics) -> None:
    origins, hops = settings.cors_origins, settings.trusted_proxy_hops

    async def start_request() -> Response | None:
        request, store = current_request(), current_g()
        assign_request_id(request, store)
        start_clock(store)
        # Whatever the method: a body over MAX_CONTENT_LENGTH → 413, before anything else.
        if request.method in BODY_METHODS or _has_body(request):
            await request.get_data()
        routing = request.routing_exception
        if isinstance(routing, MethodNotAllowed):
            methods = list(routing.valid_methods or ())
            if not path_is_a_route_for(methods):
                request.routing_exception = NotFound()
            elif request.method == "OPTIONS":
                return options_response(request, methods, origins)
        return None

    async def finish_response(response: Response) -> Response:
        request, store, headers = current_request(), current_g(), response.headers
        # Added, not set: nothing else sets these two, and werkzeug's set lowercases every
        # header name already there to find one to replace.
        headers.add(HEADER, store.get("request_id") or assign_request_id(request, store))
        headers.add("X-Content-Type-Options", "nosniff")
        if response.status_code in BODILESS:
            headers.pop("Content-Type", None)
            # RFC 9110: never on a 204; on a 304 only the length a 200 would have had.
            headers.pop("Content-Length", None)
        if "Authorization" in request.headers and "Cache-Control" not in headers:
            # Another user's data: kept by the client only, and revalidated before each reuse
            # (with If-None-Match where there is an ETag).
            headers.add("Cache-Control", PRIVATE)
        add_cors_headers(request, response, origins)
        log_response(request, store, response, metrics, hops)
        return response

    app.before_request(start_request)
    app.after_request(finish_response)


def _has_body(request: Request) -> bool:
    """HTTP/1.1 announces a body with Content-Length or Transfer-Encoding (RFC 9112)."""
    headers = request.headers
    return "Transfer-Encoding" in headers or headers.get("Content-Length", "0") != "0"

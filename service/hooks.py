"""Per-request hooks: request id, early 413, CORS and OPTIONS, the headers every response gets."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable

from quart import Quart, Response, current_app, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Rule

from .client_address import client_address
from .error_handlers import allow_header
from .metrics import UNMATCHED
from .request_ids import HEADER, assign_request_id
from .runtime import runtime

access_log = logging.getLogger("roster.access")
UNTIMED = frozenset({"HEAD", "OPTIONS"})
_PARAMETER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
BODILESS = frozenset({204, 304})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CORS_ALLOW_HEADERS = (
    "Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, X-Request-ID"
)
CORS_EXPOSE_HEADERS = (
    "ETag, Link, Location, Retry-After, X-Request-ID, Idempotent-Replayed, WWW-Authenticate"
)


def register_hooks(app: Quart) -> None:
    app.before_request(start_request)
    app.after_request(finish_response)


async def start_request() -> Response | None:
    assign_request_id()
    g.started = time.perf_counter()
    # Whatever the method: a body over MAX_CONTENT_LENGTH → 413, before anything else.
    if request.method in BODY_METHODS or _has_body():
        await request.get_data()
    routing = request.routing_exception
    if isinstance(routing, MethodNotAllowed) and not _route_matches(routing.valid_methods or ()):
        request.routing_exception = routing = NotFound()
    if request.method == "OPTIONS" and isinstance(routing, MethodNotAllowed):
        return _options(routing)
    return None


def _has_body() -> bool:
    """HTTP/1.1 announces a body with Content-Length or Transfer-Encoding (RFC 9112)."""
    headers = request.headers
    return "Transfer-Encoding" in headers or headers.get("Content-Length", "0") != "0"


def _route_matches(methods: Iterable[str]) -> bool:
    """Whether the path is a route for any of `methods`.

    werkzeug checks a rule's methods before its converters, so a path that no rule accepts (a
    user id out of range, for PUT) can come back as 405 instead of 404.
    """
    adapter = current_app.create_url_adapter(request)
    if adapter is None:
        return True
    for method in methods:
        try:
            adapter.match(method=method)
        except (NotFound, MethodNotAllowed):
            continue
        except HTTPException:  # a redirect: the route exists
            pass
        return True
    return False


def _options(routing: MethodNotAllowed) -> Response:
    response = Response(status=204)
    response.headers["Allow"] = allow_header(routing.valid_methods or ())
    if _allowed_origin() is not None:
        response.headers["Access-Control-Allow-Methods"] = response.headers["Allow"]
        response.headers["Access-Control-Allow-Headers"] = CORS_ALLOW_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
    return response


async def finish_response(response: Response) -> Response:
    response.headers[HEADER] = g.get("request_id") or assign_request_id()
    response.headers["X-Content-Type-Options"] = "nosniff"
    if response.status_code in BODILESS:
        response.headers.pop("Content-Type", None)
        # RFC 9110: never on a 204; on a 304 only the length a 200 would have had.
        response.headers.pop("Content-Length", None)
    origin = _allowed_origin()
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSE_HEADERS
        response.vary.add("Origin")
    _log(response)
    return response


def _allowed_origin() -> str | None:
    origin = request.headers.get("Origin")
    allowed: tuple[str, ...] = current_app.config["ROSTER_CORS_ORIGINS"]
    if origin is None or not allowed:
        return None
    if "*" in allowed:
        return "*"
    return origin if origin.rstrip("/") in allowed else None


def route_template(rule: Rule) -> str:
    """`/api/users/{user_id}` for `/api/users/<int(min=1):user_id>`: a label, never a raw path."""
    return _PARAMETER.sub(r"{\1}", rule.rule)


def current_client_address() -> str:
    """The client's address as docs/API.md §4 defines it, worked out once per request."""
    address: str | None = g.get("client_address")
    if address is None:
        hops = runtime().settings.trusted_proxy_hops
        forwarded = request.headers.getlist("X-Forwarded-For") if hops else ()
        g.client_address = address = client_address(request.remote_addr, forwarded, hops)
    return address


def _log(response: Response) -> None:
    started: float | None = g.get("started")
    seconds = 0.0 if started is None else time.perf_counter() - started
    rule = request.url_rule
    route = UNMATCHED if rule is None else route_template(rule)
    status = response.status_code
    runtime().metrics.observe_request(route, request.method, status, seconds)
    caller = g.get("caller")
    user_id = None if caller is None else caller.user.id
    fields = {
        "method": request.method,
        "path": request.path,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "client_address": current_client_address(),
        "user_id": user_id,
    }
    access_log.info(
        "%s %s %d %.1fms client=%s user=%s",
        request.method,
        request.path,
        status,
        seconds * 1000,
        fields["client_address"],
        "-" if user_id is None else user_id,
        extra={"access": fields},
    )

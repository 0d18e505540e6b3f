"""CORS (`CORS_ORIGINS`): which origin a response allows, and the preflight's answer."""

from __future__ import annotations

from quart import Request, Response

from .routing import allow_header

ALLOW_HEADERS = (
    "Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, X-Request-ID"
)
EXPOSE_HEADERS = (
    "ETag, Link, Location, Retry-After, X-Request-ID, Idempotent-Replayed, WWW-Authenticate"
)


def allowed_origin(request: Request, allowed: tuple[str, ...]) -> str | None:
    """The `Access-Control-Allow-Origin` for `request`'s origin (CORS_ORIGINS: `allowed`)."""
    origin = request.headers.get("Origin")
    if origin is None or not allowed:
        return None
    if "*" in allowed:
        return "*"
    return origin if origin.rstrip("/") in allowed else None


def options_response(request: Request, methods: list[str], allowed: tuple[str, ...]) -> Response:
    """`OPTIONS` on a route: 204 with `Allow` (and, for an allowed origin, the preflight)."""
    response = Response(status=204)
    response.headers["Allow"] = allow_header(methods)
    if allowed_origin(request, allowed) is not None:
        response.headers["Access-Control-Allow-Methods"] = response.headers["Allow"]
        response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
    return response


def add_cors_headers(request: Request, response: Response, allowed: tuple[str, ...]) -> None:
    origin = allowed_origin(request, allowed)
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
        response.vary.add("Origin")

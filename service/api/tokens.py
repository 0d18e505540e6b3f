"""/api/tokens and /api/profile (docs/API.md §2): log in, log out, who am I."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from quart import Blueprint
from werkzeug.datastructures import Headers

from ..domain import tokens
from ..errors import RateLimited, Unauthorized
from ..http.context import runtime
from ..http.envelope import meta
from ..http.etags import etag_of
from ..http.openapi import Reply
from ..http.validation import validate_body
from ..metrics import Metrics
from .auth import Access, Rule, authorize
from .contract import operation
from .schemas import TokenCreate, TokenEnvelope, UserEnvelope

# Handlers return werkzeug `Headers`, not dicts: quart-schema would build a pydantic
# TypeAdapter to dump a dict of headers on every response.
blueprint = Blueprint("tokens", __name__)
SIGNED_IN_ERRORS = (401, 503)


@blueprint.post("/api/tokens")
@operation(
    "log_in",
    "tokens",
    Reply(201, TokenEnvelope, "A new bearer token", ("Cache-Control",)),
    errors=(400, 401, 413, 422, 429, 503),
)
@validate_body(TokenCreate)
async def log_in(data: TokenCreate) -> tuple[TokenEnvelope, int, Headers]:
    """Log in: exchange an email and password for a bearer token.

    More than `LOGIN_RATE_LIMIT` attempts (default 10/minute) for one normalised email give
    429 `RATE_LIMITED` with `Retry-After`; every attempt counts, checked before the password.
    """
    settings = runtime().settings
    with counted_login(runtime().metrics):
        token = await tokens.log_in(
            runtime().db,
            runtime().passwords,
            data.email,
            data.password,
            ttl_seconds=settings.token_ttl_seconds,
            rate_limit=settings.login_rate_limit,
        )
    return TokenEnvelope(data=token, meta=meta()), 201, Headers({"Cache-Control": "no-store"})


@blueprint.delete("/api/tokens/current")
@operation(
    "log_out",
    "tokens",
    Reply(204, description="Logged out: the presented token is revoked"),
    errors=SIGNED_IN_ERRORS,
)
@authorize(Rule.SIGNED_IN)
async def log_out(access: Access) -> tuple[str, int]:
    """Log out: revoke the token presented with this request."""
    await tokens.log_out(runtime().db, access.signed_in.token_id)
    return "", 204


@blueprint.get("/api/profile")
@operation(
    "get_profile",
    "tokens",
    Reply(200, UserEnvelope, "The current user", ("ETag",)),
    errors=SIGNED_IN_ERRORS,
)
@authorize(Rule.SIGNED_IN)
async def profile(access: Access) -> tuple[UserEnvelope, int, Headers]:
    """Who am I: the user the token belongs to."""
    user = access.signed_in.user
    return UserEnvelope(data=user, meta=meta()), 200, Headers({"ETag": etag_of(user)})


@contextmanager
def counted_login(metrics: Metrics) -> Iterator[None]:
    """Count a login attempt by its outcome."""
    try:
        yield
    except RateLimited:
        metrics.login("rate_limited")
        metrics.rate_limited("email")
        raise
    except Unauthorized:
        metrics.login("invalid_credentials")
        raise
    metrics.login("success")

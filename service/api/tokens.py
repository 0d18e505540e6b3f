"""/api/tokens and /api/profile: log in, log out, who am I."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import validate_response
from werkzeug.datastructures import Headers

from .. import openapi
from ..auth import current_caller, login_required
from ..conditional import etag_of
from ..errors import RateLimited, Unauthorized
from ..responses import meta
from ..runtime import runtime
from ..schemas import TokenCreate, TokenEnvelope, UserEnvelope
from ..services import tokens
from .validation import validate_body

blueprint = Blueprint("tokens", __name__)


@blueprint.post("/api/tokens")
@openapi.errors(400, 401, 413, 422, 429, 503)
@openapi.response(201, "A new bearer token", "Cache-Control")
@openapi.response(429, "", "Retry-After")
@validate_response(TokenEnvelope, 201)
@validate_body(TokenCreate)
async def log_in(data: TokenCreate) -> tuple[TokenEnvelope, int, Headers]:
    """Log in: exchange an email and password for a bearer token.

    More than `LOGIN_RATE_LIMIT` attempts (default 10/minute) for one normalised email give
    429 `RATE_LIMITED` with `Retry-After`; every attempt counts, checked before the password.
    """
    settings, metrics = runtime().settings, runtime().metrics
    try:
        token = await tokens.log_in(
            runtime().db,
            runtime().passwords,
            data,
            ttl_seconds=settings.token_ttl_seconds,
            rate_limit=settings.login_rate_limit,
        )
    except RateLimited:
        metrics.login("rate_limited")
        metrics.rate_limited("email")
        raise
    except Unauthorized:
        metrics.login("invalid_credentials")
        raise
    metrics.login("success")
    return TokenEnvelope(data=token, meta=meta()), 201, Headers({"Cache-Control": "no-store"})


@blueprint.delete("/api/tokens/current")
@openapi.errors(401, 503)
@openapi.response(204, "Logged out: the presented token is revoked")
@login_required
async def log_out() -> tuple[str, int]:
    """Log out: revoke the token presented with this request."""
    await tokens.log_out(runtime().db, current_caller().token_id)
    return "", 204


@blueprint.get("/api/profile")
@openapi.errors(401, 503)
@openapi.response(200, "The current user", "ETag")
@validate_response(UserEnvelope)
@login_required
async def profile() -> tuple[UserEnvelope, int, Headers]:
    """Who am I: the user the token belongs to."""
    user = current_caller().user
    return UserEnvelope(data=user, meta=meta()), 200, Headers({"ETag": etag_of(user)})

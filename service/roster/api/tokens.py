"""/api/tokens and /api/profile (docs/API.md §2): log in, log out, who am I."""

from __future__ import annotations

from quart import Blueprint, request
from werkzeug.datastructures import Headers

from ..domain import tokens
from ..domain.rate_limits import Window, tightest
from ..errors import AccountDisabled, EmailNotVerified, RateLimited, Unauthorized
from ..http.client_address import current_client_address
from ..http.envelope import meta
from ..http.etags import etag_of
from ..http.openapi import Reply
from ..http.validation import validate_body
from ..runtime import Runtime
from ..schemas import visible_text
from ..serving.metrics import Metrics
from .auth import Access, Rule, authorize, origin_of
from .contract import operation
from .schemas import TokenCreate, TokenEnvelope, UserEnvelope

# Handlers return werkzeug `Headers`, not dicts: quart-schema would build a pydantic
# TypeAdapter to dump a dict of headers on every response.
blueprint = Blueprint("tokens", __name__)
SIGNED_IN_ERRORS = (401, 503)
RATE_LIMIT_HEADERS = ("RateLimit-Policy", "RateLimit")
LABEL_LENGTH = 100


@blueprint.post("/api/tokens")
@operation(
    "log_in",
    "tokens",
    Reply(201, TokenEnvelope, "A new bearer token", ("Cache-Control", *RATE_LIMIT_HEADERS)),
    errors=(
        400,
        Reply(401, headers=RATE_LIMIT_HEADERS),
        Reply(403, headers=RATE_LIMIT_HEADERS),
        413,
        422,
        Reply(429, headers=RATE_LIMIT_HEADERS),
        503,
    ),
)
@validate_body(TokenCreate)
async def log_in(data: TokenCreate, runtime: Runtime) -> tuple[TokenEnvelope, int, Headers]:
    """Log in: exchange an email and password for a bearer token (a session).

    More than `LOGIN_RATE_LIMIT` attempts (default 10/minute) for one normalised email from
    one client address, `LOGIN_ACCOUNT_RATE_LIMIT` (default 100/hour) for one email from every
    address but those the user logged in from in the last `LOGIN_KNOWN_ADDRESS_DAYS` (30), or
    `LOGIN_ADDRESS_RATE_LIMIT` (default 1000/minute) from one client address, give 429
    `RATE_LIMITED` with `Retry-After`; every attempt counts, checked before the password. A
    disabled account gives 403 `ACCOUNT_DISABLED`, once the password is right; with
    `REQUIRE_VERIFIED_EMAIL=true`, an unverified email then gives 403 `EMAIL_NOT_VERIFIED`.
    """
    settings = runtime.settings
    address = current_client_address(settings.trusted_proxy_hops)
    # An unknown address (no peer) still has a per-address limit: its own.
    attempt = tokens.LoginAttempt(data.email, data.password, data.label or _user_agent(), address)
    policy = tokens.LoginPolicy(
        settings.token_ttl_seconds,
        settings.login_limits,
        settings.max_tokens_per_user,
        settings.require_verified_email,
    )
    origin = origin_of(None, runtime)
    outcome = await tokens.log_in(runtime.db, runtime.passwords, attempt, policy, origin)
    count_login(runtime.metrics, outcome)
    headers = rate_limit_headers(outcome.windows)
    if outcome.refusal is not None:
        outcome.refusal.headers.update(headers)
        raise outcome.refusal
    assert outcome.token is not None
    headers["Cache-Control"] = "no-store"
    return TokenEnvelope(data=outcome.token, meta=meta()), 201, Headers(headers)


@blueprint.delete("/api/tokens/current")
@operation(
    "log_out",
    "tokens",
    Reply(204, description="Logged out: the presented token is revoked"),
    errors=SIGNED_IN_ERRORS,
)
@authorize(Rule.SIGNED_IN)
async def log_out(access: Access, runtime: Runtime) -> tuple[str, int]:
    """Log out: revoke the token presented with this request."""
    caller = access.signed_in
    await tokens.log_out(runtime.db, caller, origin_of(caller, runtime))
    return "", 204


@blueprint.get("/api/profile")
@operation(
    "get_profile",
    "tokens",
    Reply(200, UserEnvelope, "The current user", ("ETag",)),
    errors=SIGNED_IN_ERRORS,
)
@authorize(Rule.SIGNED_IN, scope="profile:read")
async def profile(access: Access) -> tuple[UserEnvelope, int, Headers]:
    """Who am I: the user the token belongs to."""
    user = access.signed_in.user
    return UserEnvelope(data=user, meta=meta()), 200, Headers({"ETag": etag_of(user)})


def rate_limit_headers(windows: list[Window]) -> dict[str, str]:
    """The IETF rate-limit fields (draft-ietf-httpapi-ratelimit-headers) for the limits that
    counted the attempt: every policy, and the state of the tightest."""
    policies = ", ".join(
        f'"{window.name}";q={window.rule.limit};w={window.rule.window_seconds}'
        for window in windows
    )
    tight = tightest(windows)
    state = f'"{tight.name}";r={tight.remaining};t={tight.reset_seconds}'
    return {"RateLimit-Policy": policies, "RateLimit": state}


def count_login(metrics: Metrics, outcome: tokens.LoginOutcome) -> None:
    refusal = outcome.refusal
    if refusal is None:
        metrics.login("success")
    elif isinstance(refusal, RateLimited):
        metrics.login("rate_limited")
        for window in outcome.windows:
            if window.exceeded:
                metrics.rate_limited(window.name)
    elif isinstance(refusal, AccountDisabled):
        metrics.login("account_disabled")
    elif isinstance(refusal, EmailNotVerified):
        metrics.login("email_not_verified")
    elif isinstance(refusal, Unauthorized):
        metrics.login("invalid_credentials")


def _user_agent() -> str | None:
    """A session's default label: the User-Agent without control or invisible characters
    (a label follows the name rules), cut to 100 characters; None without one."""
    agent = visible_text(request.headers.get("User-Agent", "")).strip()[:LABEL_LENGTH].strip()
    return agent or None

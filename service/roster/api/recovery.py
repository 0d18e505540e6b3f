"""/api/password-resets (docs/API.md §6): a reset request, and its confirmation."""

from __future__ import annotations

from quart import Blueprint

from ..domain import recovery
from ..http.envelope import meta
from ..http.openapi import Reply
from ..http.validation import validate_body
from ..runtime import Runtime
from .auth import origin_of
from .contract import operation
from .schemas import AcceptedEnvelope, AcceptedOut, PasswordResetConfirm, PasswordResetRequest

blueprint = Blueprint("recovery", __name__)


@blueprint.post("/api/password-resets")
@operation(
    "request_password_reset",
    "recovery",
    Reply(202, AcceptedEnvelope, "Taken: a message goes to the address if an account has it"),
    errors=(400, 413, 422, Reply(429, headers=("Retry-After",)), 503),
)
@validate_body(PasswordResetRequest)
async def request_reset(
    data: PasswordResetRequest, runtime: Runtime
) -> tuple[AcceptedEnvelope, int]:
    """Ask for a password-reset message: the same answer, in about the same time, whether or
    not an account has the address. Only an active user's address gets a message, with a
    single-use token valid for `PASSWORD_RESET_TTL_SECONDS` (default 3600). More than
    `MAIL_REQUEST_RATE_LIMIT` requests (default 5/hour) for one address give 429, for any
    address; they also count toward `LOGIN_ADDRESS_RATE_LIMIT` for the client address."""
    origin = origin_of(None, runtime)
    await recovery.ask_for_reset(runtime.db, runtime.mail, runtime.settings, data.email, origin)
    return AcceptedEnvelope(data=AcceptedOut(), meta=meta()), 202


@blueprint.post("/api/password-resets/confirm")
@operation(
    "confirm_password_reset",
    "recovery",
    Reply(204, description="The password is set; every session of the account has ended"),
    errors=(400, 413, 422, 503),
)
@validate_body(PasswordResetConfirm)
async def confirm_reset(data: PasswordResetConfirm, runtime: Runtime) -> tuple[str, int]:
    """Set a new password with a reset token. In one step: every session of the user ends,
    every other reset token of theirs is spent, their login limits start afresh, and a notice
    goes to the address. An unknown, used or expired token, or one whose user has since been
    disabled or deleted, gives 422 naming `token`."""
    origin = origin_of(None, runtime)
    await recovery.reset_password(
        runtime.db, runtime.passwords, runtime.mail, runtime.settings, data, origin
    )
    return "", 204

"""/api/email-verifications (docs/API.md §6): ask for a verification message, and confirm."""

from __future__ import annotations

from quart import Blueprint, Response

from ..domain import verification
from ..http.client_address import current_client_address
from ..http.envelope import meta
from ..http.openapi import Reply
from ..http.validation import validate_body
from ..runtime import Runtime
from .auth import Access, Rule, authorize, origin_of
from .contract import operation
from .schemas import AcceptedEnvelope, AcceptedOut, EmailVerificationConfirm, UserEnvelope
from .tokens import SIGNED_IN_ERRORS
from .users import user_response

blueprint = Blueprint("verification", __name__)


@blueprint.post("/api/email-verifications")
@operation(
    "request_email_verification",
    "verification",
    Reply(202, AcceptedEnvelope, "Taken: a verification message goes to the caller's email"),
    errors=(*SIGNED_IN_ERRORS, 409, Reply(429, headers=("Retry-After",))),
)
@authorize(Rule.SIGNED_IN)
async def request_verification(access: Access, runtime: Runtime) -> tuple[AcceptedEnvelope, int]:
    """Send a new verification message to the caller's current email (an earlier one stays
    valid until it expires). Already verified: 409 `CONFLICT`. More than
    `MAIL_REQUEST_RATE_LIMIT` requests (default 5/hour) for one address give 429; they also
    count toward `LOGIN_ADDRESS_RATE_LIMIT` for the client address."""
    address = current_client_address(runtime.settings.trusted_proxy_hops)
    await verification.ask_for_verification(
        runtime.db, runtime.verifications, access.signed_in.user, address
    )
    return AcceptedEnvelope(data=AcceptedOut(), meta=meta()), 202


@blueprint.post("/api/email-verifications/confirm")
@operation(
    "confirm_email_verification",
    "verification",
    Reply(200, UserEnvelope, "The user, now with `email_verified: true`", ("ETag",)),
    errors=(400, 413, 422, 503),
)
@validate_body(EmailVerificationConfirm)
async def confirm_verification(data: EmailVerificationConfirm, runtime: Runtime) -> Response:
    """Prove an address with the token its verification message carried. The token is
    single-use, expires after `EMAIL_VERIFICATION_TTL_SECONDS` (default 86400), and verifies
    only the address it was sent to; any other token gives 422 naming `token`."""
    origin = origin_of(None, runtime)
    return user_response(await verification.verify_email(runtime.db, data.token, origin))

"""POST /api/tokens/introspect (RFC 7662, docs/API.md §2): for gateways and services that
receive Roster tokens or keys and must check them."""

from __future__ import annotations

import json

from quart import Blueprint, Response

from ..domain.introspection import introspect
from ..http.openapi import Reply
from ..http.validation import document_body, load_form_or_json
from ..runtime import Runtime
from .auth import Access, Rule, authorize
from .contract import operation
from .schemas import IntrospectionOut, IntrospectionRequest

blueprint = Blueprint("introspection", __name__)


@blueprint.post("/api/tokens/introspect")
@operation(
    "introspect_token",
    "tokens",
    Reply(200, IntrospectionOut, "What the credential is (RFC 7662 §2.2, outside the envelope)"),
    errors=(400, 401, 403, 413, 422, 503),
)
@authorize(Rule.ADMIN, scope="tokens:introspect")
async def introspect_token(access: Access, runtime: Runtime) -> Response:
    """Check a session token or an API key (RFC 7662): `token=…` form-encoded, or `{"token":
    …}` as JSON (`token_type_hint` is ignored). For a key with `tokens:introspect`, or an
    admin's session. An unknown, expired or revoked credential, or one whose owner is disabled,
    gives `{"active": false}` and nothing else; the credential's `last_used_at` is not
    touched. Errors of the call itself use the envelope."""
    asked = await load_form_or_json(IntrospectionRequest)
    answer = await introspect(runtime.db, asked.token)
    headers = {"Cache-Control": "no-store"}
    return Response(json.dumps(answer), 200, headers, content_type="application/json")


document_body(introspect_token, IntrospectionRequest)

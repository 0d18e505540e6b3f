"""/api/audit-events and /api/profile/audit-events (docs/API.md §7): the audit log, for admins
(and keys with `audit:read`), and each user's own security log."""

from __future__ import annotations

from pydantic import TypeAdapter
from quart import Blueprint, Response
from werkzeug.datastructures import Headers

from ..domain import audit
from ..http.context import current_request
from ..http.envelope import model_json, respond
from ..http.openapi import Reply
from ..http.request_ids import current_request_id
from ..http.validation import validate_query
from ..pages import CursorPage
from ..runtime import Runtime
from ..schemas import AuditEventOut, AuditListQuery
from .auth import Access, Rule, authorize
from .contract import operation
from .schemas import AuditEventListEnvelope

blueprint = Blueprint("audit", __name__)
EVENTS_JSON = TypeAdapter(list[AuditEventOut]).dump_json  # a page's events, built once


@blueprint.get("/api/audit-events")
@operation(
    "list_audit_events",
    "audit",
    Reply(200, AuditEventListEnvelope, "A page of events, newest first", ("Link",)),
    errors=(401, 403, 422, 503),
)
@authorize(Rule.ADMIN, scope="audit:read")
@validate_query(AuditListQuery)
async def list_events(query_args: AuditListQuery, access: Access, runtime: Runtime) -> Response:
    """The audit log, newest first, a page after a `cursor` at a time: for admins.

    Filters: `type` (one type or a comma-separated list), `actor_id`, `target_id`, `since`
    (inclusive) and `until` (exclusive), RFC 3339."""
    return _page(await audit.list_events(runtime.db, runtime.cursors, query_args))


@blueprint.get("/api/profile/audit-events")
@operation(
    "list_own_audit_events",
    "audit",
    Reply(200, AuditEventListEnvelope, "A page of your events, newest first", ("Link",)),
    errors=(401, 403, 422, 503),
)
@authorize(Rule.SIGNED_IN, scope="profile:read")
@validate_query(AuditListQuery)
async def list_own(query_args: AuditListQuery, access: Access, runtime: Runtime) -> Response:
    """Your security log: the events whose actor or target you are, with the same filters
    and cursors as `GET /api/audit-events`."""
    user_id = access.signed_in.user.id
    return _page(await audit.list_events(runtime.db, runtime.cursors, query_args, user_id))


def _page(page: CursorPage[AuditEventOut]) -> Response:
    request = current_request()
    headers = Headers(page.headers(request.path, request.args.items(multi=True)))
    meta = model_json(page.meta(current_request_id()))
    return respond(EVENTS_JSON(page.items), 200, headers, meta)

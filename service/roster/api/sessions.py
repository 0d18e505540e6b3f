"""Sessions (docs/API.md §2): a user's live tokens, which they (or an admin) can list and end.
Another user's session id is a 404, never a 403 that would confirm it exists."""

from __future__ import annotations

from quart import Blueprint

from ..domain import sessions
from ..http.envelope import meta
from ..http.openapi import Reply
from ..runtime import Runtime
from ..schemas import MAX_ID
from .auth import Access, Rule, authorize, origin_of
from .contract import operation
from .schemas import SessionListEnvelope

blueprint = Blueprint("sessions", __name__)
ONE_SESSION = f"/api/tokens/<int(min=1, max={MAX_ID}):token_id>"
USER_SESSIONS = f"/api/users/<int(min=1, max={MAX_ID}):user_id>/tokens"
ERRORS = (401, 503)
ENDED = "Ended"


@blueprint.get("/api/tokens")
@operation(
    "list_sessions",
    "sessions",
    Reply(200, SessionListEnvelope, "Your live sessions"),
    errors=ERRORS,
)
@authorize(Rule.SIGNED_IN)
async def list_own(access: Access, runtime: Runtime) -> SessionListEnvelope:
    """Your live sessions, newest first (`current`: the one making this request)."""
    caller = access.signed_in
    found = await sessions.list_sessions(runtime.db, caller.user.id, caller.token_id)
    return SessionListEnvelope(data=found, meta=meta())


@blueprint.delete("/api/tokens/others")
@operation("end_other_sessions", "sessions", Reply(204, description=ENDED), errors=ERRORS)
@authorize(Rule.SIGNED_IN)
async def end_others(access: Access, runtime: Runtime) -> tuple[str, int]:
    """End every session of yours but the one making this request."""
    caller = access.signed_in
    origin = origin_of(caller, runtime)
    await sessions.end_sessions(runtime.db, caller.user.id, origin, keep_token_id=caller.token_id)
    return "", 204


@blueprint.delete(ONE_SESSION)
@operation("end_session", "sessions", Reply(204, description=ENDED), errors=(401, 404, 503))
@authorize(Rule.SIGNED_IN)
async def end_one(token_id: int, access: Access, runtime: Runtime) -> tuple[str, int]:
    """End one of your sessions (404 for another user's, or an unknown one)."""
    caller = access.signed_in
    await sessions.end_session(runtime.db, caller.user.id, token_id, origin_of(caller, runtime))
    return "", 204


@blueprint.get(USER_SESSIONS)
@operation(
    "list_user_sessions",
    "sessions",
    Reply(200, SessionListEnvelope, "The user's live sessions"),
    errors=(401, 403, 404, 503),
)
@authorize(Rule.SELF_OR_ADMIN)
async def list_of_user(user_id: int, access: Access, runtime: Runtime) -> SessionListEnvelope:
    """A user's live sessions, newest first: the user themself, or an admin."""
    found = await sessions.list_sessions(runtime.db, user_id, access.signed_in.token_id)
    return SessionListEnvelope(data=found, meta=meta())


@blueprint.delete(USER_SESSIONS)
@operation(
    "end_user_sessions", "sessions", Reply(204, description=ENDED), errors=(401, 403, 404, 503)
)
@authorize(Rule.SELF_OR_ADMIN)
async def end_all_of_user(user_id: int, access: Access, runtime: Runtime) -> tuple[str, int]:
    """End every session of a user, the caller's own included when it is theirs."""
    await sessions.end_sessions(runtime.db, user_id, origin_of(access.caller, runtime))
    return "", 204

"""/api/keys (docs/API.md §2): a user's API keys, and an admin's view of anyone's. Only a
session may manage keys: a key is refused on every one of these routes."""

from __future__ import annotations

from quart import Blueprint, Response
from werkzeug.datastructures import Headers

from ..domain import keys
from ..http.envelope import meta, model_json, respond
from ..http.openapi import Reply
from ..runtime import Runtime
from ..schemas import MAX_ID
from .auth import Access, Rule, authorize, origin_of
from .bodies import accepts
from .contract import operation
from .schemas import KeyCreate, KeyEnvelope, KeyListEnvelope, NewKeyEnvelope

blueprint = Blueprint("keys", __name__)
ONE_KEY = f"/api/keys/<int(min=1, max={MAX_ID}):key_id>"
USER_KEYS = f"/api/users/<int(min=1, max={MAX_ID}):user_id>/keys"
REVOKED = "Revoked: a request with the key is refused from now on, in every worker and host"
OWN_ERRORS = (401, 403, 503)  # 403: a key, which may not manage keys
ADMIN_ERRORS = (401, 403, 404, 503)


@blueprint.post("/api/keys")
@operation(
    "create_key",
    "keys",
    Reply(201, NewKeyEnvelope, "The key, with its secret (`key`) this once", ("Location",)),
    errors=(400, 401, 403, 409, 413, 422, 503),
)
@authorize(Rule.SIGNED_IN)
@accepts(KeyCreate)
async def create(data: KeyCreate, access: Access, runtime: Runtime) -> Response:
    """Create an API key for a program: it acts as you, within its `scopes` (`audit:read`
    and `tokens:introspect` for admins only: 403 otherwise). Its secret is in `key`, shown
    only in this answer. At most `MAX_KEYS_PER_USER` (default 20) live keys: 409 beyond."""
    wanted = keys.KeyRequest(data.name, data.scopes, data.expires_at)
    most = runtime.settings.max_keys_per_user
    caller = access.signed_in
    origin = origin_of(caller, runtime)
    created = await keys.create_key(runtime.db, caller.user, wanted, most, origin)
    headers = Headers({"Location": f"/api/keys/{created.id}", "Cache-Control": "no-store"})
    return respond(model_json(created), 201, headers)


@blueprint.get("/api/keys")
@operation("list_keys", "keys", Reply(200, KeyListEnvelope, "Your live keys"), errors=OWN_ERRORS)
@authorize(Rule.SIGNED_IN)
async def list_own(access: Access, runtime: Runtime) -> KeyListEnvelope:
    """Your live API keys, newest first (never their secrets)."""
    found = await keys.list_keys(runtime.db, access.signed_in.user.id)
    return KeyListEnvelope(data=found, meta=meta())


@blueprint.get(ONE_KEY)
@operation(
    "get_key", "keys", Reply(200, KeyEnvelope, "One of your keys"), errors=(*OWN_ERRORS, 404)
)
@authorize(Rule.SIGNED_IN)
async def get_own(key_id: int, access: Access, runtime: Runtime) -> KeyEnvelope:
    """One of your live API keys (404 for another user's, or an unknown one)."""
    found = await keys.get_key(runtime.db, access.signed_in.user.id, key_id)
    return KeyEnvelope(data=found, meta=meta())


@blueprint.delete(ONE_KEY)
@operation("revoke_key", "keys", Reply(204, description=REVOKED), errors=(*OWN_ERRORS, 404))
@authorize(Rule.SIGNED_IN)
async def revoke_own(key_id: int, access: Access, runtime: Runtime) -> tuple[str, int]:
    """Revoke one of your API keys (404 for another user's, or an unknown one)."""
    caller = access.signed_in
    await keys.revoke_key(runtime.db, caller.user.id, key_id, origin_of(caller, runtime))
    return "", 204


@blueprint.get(USER_KEYS)
@operation(
    "list_user_keys", "keys", Reply(200, KeyListEnvelope, "The user's keys"), errors=ADMIN_ERRORS
)
@authorize(Rule.ADMIN)
async def list_of_user(user_id: int, access: Access, runtime: Runtime) -> KeyListEnvelope:
    """A user's live API keys, newest first: for admins."""
    return KeyListEnvelope(data=await keys.list_keys(runtime.db, user_id), meta=meta())


@blueprint.delete(f"{USER_KEYS}/<int(min=1, max={MAX_ID}):key_id>")
@operation("revoke_user_key", "keys", Reply(204, description=REVOKED), errors=ADMIN_ERRORS)
@authorize(Rule.ADMIN)
async def revoke_of_user(
    user_id: int, key_id: int, access: Access, runtime: Runtime
) -> tuple[str, int]:
    """Revoke one of a user's API keys: for admins (404 for a key that is not that user's)."""
    await keys.revoke_key(runtime.db, user_id, key_id, origin_of(access.caller, runtime))
    return "", 204

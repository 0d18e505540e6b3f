"""/api/users (docs/API.md §3): register, list, read, replace, update, delete."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter
from quart import Blueprint, Response
from werkzeug.datastructures import Headers

from ..db import listing
from ..db.queries import Along
from ..domain import users
from ..http.context import current_request
from ..http.envelope import model_json, respond
from ..http.etags import etag_of_json, if_match, not_modified, user_json
from ..http.openapi import Reply
from ..http.request_ids import current_request_id as request_id
from ..http.validation import query_of, validate_query
from ..runtime import Runtime
from ..schemas import MAX_ID, UserListQuery, UserOut
from .auth import Access, Rule, authorize, origin_of
from .bodies import accepts
from .contract import operation
from .schemas import UserCreate, UserEnvelope, UserListEnvelope, UserPatch, UserReplace

# Handlers return werkzeug `Headers`, not dicts: quart-schema would build a pydantic
# TypeAdapter to dump a dict of headers on every response.
USERS_JSON = TypeAdapter(list[UserOut]).dump_json  # a page's users, by a serializer built once
blueprint = Blueprint("users", __name__, url_prefix="/api/users")
ONE_USER = f"/<int(min=1, max={MAX_ID}):user_id>"
WRITABLE = {"name", "email", "password", "role", "status"}
ADMIN_FIELDS = ("role", "status")
WRITE_ERRORS = (400, 401, 403, 404, 409, 412, 413, 422, 503)
REPLAYED = ("Idempotent-Replayed",)


@blueprint.post("")
@operation(
    "register_user",
    "users",
    Reply(201, UserEnvelope, "Registered", ("Location", "ETag", *REPLAYED)),
    errors=(400, 401, Reply(403, headers=REPLAYED), Reply(409, headers=REPLAYED), 413, 422, 503),
    request_headers=("Idempotency-Key",),
)
@authorize(Rule.ANYONE, scope="users:write")
@accepts(UserCreate, admin_only=ADMIN_FIELDS, idempotent=True)
async def create_user(data: UserCreate, access: Access, runtime: Runtime) -> Response:
    """Register a user.

    Public; with an admin's bearer token, `role` and `status` may be set. With an
    `Idempotency-Key` header (1-255 printable ASCII characters, scoped to the caller) the first
    outcome (201, 403 or 409) is stored for 24 h and replayed, with `Idempotent-Replayed: true`,
    for the same key and body; the same key with another body gives 422
    `IDEMPOTENCY_KEY_REUSED`, and while the first request runs, 409 `IDEMPOTENCY_KEY_IN_USE`.

    The new user's `email_verified` is false, and a verification message goes to the address,
    whoever registered the user.
    """
    user = await users.create_user(
        runtime.db,
        runtime.passwords,
        name=data.name,
        email=data.email,
        password=data.password,
        role=data.role,
        origin=origin_of(access.caller, runtime),
        status=data.status,
        verifications=runtime.verifications,
    )
    created = user_response(user, 201)
    created.headers["Location"] = f"/api/users/{user.id}"
    return created


def _page_along(runtime: Runtime) -> Along | None:
    """The page a list request asks for, read in its caller's statement."""
    return listing.page_along(runtime.db.dialect, lambda: query_of(UserListQuery))


@blueprint.get("")
@operation(
    "list_users",
    "users",
    Reply(200, UserListEnvelope, "A page of users", ("Link",)),
    errors=(401, 422, 503),
)
@authorize(Rule.SIGNED_IN, scope="users:read", along=_page_along)
@validate_query(UserListQuery)
async def list_users(query_args: UserListQuery, access: Access, runtime: Runtime) -> Response:
    """List users, a page at a time: by page number, or after a `cursor`."""
    page = await listing.list_users(runtime.db, runtime.cursors, query_args, access.along)
    request = current_request()
    headers = Headers(page.headers(request.path, request.args.items(multi=True)))
    return respond(USERS_JSON(page.items), 200, headers, model_json(page.meta(request_id())))


@blueprint.get(ONE_USER)
@operation(
    "get_user",
    "users",
    Reply(200, UserEnvelope, "The user", ("ETag",)),
    Reply(304, description="Not modified: If-None-Match matched", headers=("ETag",)),
    errors=(401, 404, 503),
    request_headers=("If-None-Match",),
)
@authorize(Rule.SIGNED_IN, scope="users:read")
async def get_user(user_id: int, access: Access) -> Response:
    """Read a user."""
    representation = user_json(access.user)
    etag = etag_of_json(representation)
    if not_modified(etag):
        return Response(status=304, headers={"ETag": etag})
    return respond(representation, 200, etag=etag)


@blueprint.put(ONE_USER)
@operation(
    "replace_user",
    "users",
    Reply(200, UserEnvelope, "The replaced user", ("ETag",)),
    errors=WRITE_ERRORS,
    request_headers=("If-Match",),
)
@authorize(Rule.SELF_OR_ADMIN, scope="users:write")
@accepts(UserReplace, admin_only=ADMIN_FIELDS)
async def replace_user(
    user_id: int, data: UserReplace, access: Access, runtime: Runtime
) -> Response:
    """Replace a user's writable fields.

    `name` and `email` are required; `password` (and `role`, for admins) optional. A changed
    email is unverified: a verification goes to it, and a notice to the old address.
    """
    return await _update(runtime, access, data.model_dump(include=WRITABLE, exclude_unset=True))


@blueprint.patch(ONE_USER)
@operation(
    "update_user",
    "users",
    Reply(200, UserEnvelope, "The updated user", ("ETag",)),
    errors=WRITE_ERRORS,
    request_headers=("If-Match",),
)
@authorize(Rule.SELF_OR_ADMIN, scope="users:write")
@accepts(UserPatch, admin_only=ADMIN_FIELDS)
async def update_user(user_id: int, data: UserPatch, access: Access, runtime: Runtime) -> Response:
    """Change some of a user's fields. A changed email is unverified: a verification goes to
    it, and a notice to the old address."""
    return await _update(runtime, access, data.model_dump(include=WRITABLE, exclude_unset=True))


@blueprint.delete(ONE_USER)
@operation(
    "delete_user",
    "users",
    Reply(204, description="Deleted; the user's tokens are revoked"),
    errors=(401, 403, 404, 412, 503),
    request_headers=("If-Match",),
)
@authorize(Rule.SELF_OR_ADMIN, scope="users:write")
async def delete_user(user_id: int, access: Access, runtime: Runtime) -> tuple[str, int]:
    """Delete a user and revoke their tokens."""
    await users.delete_user(runtime.db, user_id, if_match(), origin_of(access.caller, runtime))
    return "", 204


def user_response(user: UserOut, status: int = 200) -> Response:
    representation = user_json(user)
    return respond(representation, status, etag=etag_of_json(representation))


async def _update(runtime: Runtime, access: Access, changes: dict[str, Any]) -> Response:
    user = await users.update_user(
        runtime.db,
        runtime.passwords,
        access.user.id,
        changes,
        precondition=if_match(),
        origin=origin_of(access.signed_in, runtime),
        verifications=runtime.verifications,
    )
    return user_response(user)

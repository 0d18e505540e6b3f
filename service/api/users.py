"""/api/users: register, list, read, replace, update, delete."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, request
from quart_schema import validate_response
from werkzeug.datastructures import Headers

from .. import openapi
from ..auth import current_caller, login_optional, login_required, path_user
from ..conditional import etag_of, if_match, not_modified
from ..pagination import link_header, page_count
from ..responses import meta
from ..runtime import runtime
from ..schemas import (
    MAX_ID,
    PageMeta,
    UserCreate,
    UserEnvelope,
    UserListEnvelope,
    UserListQuery,
    UserOut,
    UserPatch,
    UserReplace,
)
from ..services import users
from .guards import own_or_admin, role_needs_admin
from .idempotency import idempotent
from .validation import validate_body, validate_query

# Handlers return werkzeug `Headers`, not dicts: quart-schema would build a pydantic TypeAdapter
# to dump a dict of headers on every response.
blueprint = Blueprint("users", __name__, url_prefix="/api/users")
ONE_USER = f"/<int(min=1, max={MAX_ID}):user_id>"
WRITABLE = {"name", "email", "password", "role"}


def user_response(user: UserOut, status: int = 200) -> tuple[UserEnvelope, int, Headers]:
    return UserEnvelope(data=user, meta=meta()), status, Headers({"ETag": etag_of(user)})


@blueprint.post("")
@openapi.errors(400, 401, 403, 409, 413, 422, 503)
@openapi.response(201, "Registered", "Location", "ETag", "Idempotent-Replayed")
@openapi.response(403, "", "Idempotent-Replayed")
@openapi.response(409, "", "Idempotent-Replayed")
@validate_response(UserEnvelope, 201)
@login_optional
@idempotent
@role_needs_admin
@validate_body(UserCreate)
async def create_user(data: UserCreate) -> tuple[UserEnvelope, int, Headers]:
    """Register a user.

    Public. An admin's token allows setting `role`. With an `Idempotency-Key` header (1-255
    printable ASCII characters, scoped to the caller) the first outcome (201, 403 or 409) is
    stored for 24 h and replayed, with `Idempotent-Replayed: true`, for the same key and body;
    the same key with another body gives 422 `IDEMPOTENCY_KEY_REUSED`, and while the first
    request runs, 409 `IDEMPOTENCY_KEY_IN_USE`.
    """
    user = await users.create_user(
        runtime().db,
        runtime().passwords,
        name=data.name,
        email=data.email,
        password=data.password,
        role=data.role or "user",
    )
    envelope, status, headers = user_response(user, 201)
    headers["Location"] = f"/api/users/{user.id}"
    return envelope, status, headers


@blueprint.get("")
@openapi.errors(401, 422, 503)
@openapi.response(200, "A page of users", "Link")
@validate_response(UserListEnvelope)
@login_required
@validate_query(UserListQuery)
async def list_users(query_args: UserListQuery) -> tuple[UserListEnvelope, int, Headers]:
    """List users, a page at a time."""
    found, total = await users.list_users(runtime().db, query_args)
    pages = page_count(total, query_args.per_page)
    page_meta = PageMeta(
        **meta().model_dump(),
        page=query_args.page,
        per_page=query_args.per_page,
        total=total,
        pages=pages,
    )
    envelope = UserListEnvelope(data=found, meta=page_meta)
    link = link_header(request.path, request.args, query_args.page, pages)
    return envelope, 200, Headers({"Link": link})


@blueprint.get(ONE_USER)
@openapi.errors(401, 404, 503)
@openapi.response(200, "The user", "ETag")
@openapi.response(304, "Not modified: If-None-Match matched", "ETag")
@validate_response(UserEnvelope)
@login_required
async def get_user(user_id: int) -> tuple[UserEnvelope, int, Headers] | Response:
    """Read a user."""
    user = await path_user(user_id)
    etag = etag_of(user)
    if not_modified(etag):
        return Response(status=304, headers={"ETag": etag})
    return user_response(user)


@blueprint.put(ONE_USER)
@openapi.errors(400, 401, 403, 404, 409, 412, 413, 422, 503)
@openapi.response(200, "The replaced user", "ETag")
@validate_response(UserEnvelope)
@login_required
@own_or_admin
@role_needs_admin
@validate_body(UserReplace)
async def replace_user(user_id: int, data: UserReplace) -> tuple[UserEnvelope, int, Headers]:
    """Replace a user's writable fields.

    `name` and `email` are required; `password` (and `role`, for admins) optional.
    """
    return await _update(user_id, data.model_dump(include=WRITABLE, exclude_unset=True))


@blueprint.patch(ONE_USER)
@openapi.errors(400, 401, 403, 404, 409, 412, 413, 422, 503)
@openapi.response(200, "The updated user", "ETag")
@validate_response(UserEnvelope)
@login_required
@own_or_admin
@role_needs_admin
@validate_body(UserPatch)
async def update_user(user_id: int, data: UserPatch) -> tuple[UserEnvelope, int, Headers]:
    """Change some of a user's fields."""
    return await _update(user_id, data.model_dump(include=WRITABLE, exclude_unset=True))


@blueprint.delete(ONE_USER)
@openapi.errors(401, 403, 404, 412, 503)
@openapi.response(204, "Deleted; the user's tokens are revoked")
@login_required
@own_or_admin
async def delete_user(user_id: int) -> tuple[str, int]:
    """Delete a user and revoke their tokens."""
    await users.delete_user(runtime().db, user_id, if_match())
    return "", 204


async def _update(user_id: int, changes: dict[str, Any]) -> tuple[UserEnvelope, int, Headers]:
    caller = current_caller()
    user = await users.update_user(
        runtime().db,
        runtime().passwords,
        user_id,
        changes,
        precondition=if_match(),
        keep_token_id=caller.token_id,
    )
    return user_response(user)

"""Strong ETags and the If-Match / If-None-Match preconditions (RFC 9110)."""

from __future__ import annotations

import hashlib

import orjson
from quart import request
from werkzeug.http import parse_etags

from .errors import PreconditionFailed
from .schemas import UserOut


def etag_of(user: UserOut) -> str:
    """A strong ETag: a digest of the representation, so an unchanged user keeps its tag."""
    digest = hashlib.sha256(orjson.dumps(user.model_dump(mode="json"))).hexdigest()
    return f'"{digest[:32]}"'


def not_modified(etag: str) -> bool:
    """`If-None-Match` matched (weak comparison, as RFC 9110 asks for GET)."""
    header = request.headers.get("If-None-Match")
    if header is None:
        return False
    tags = parse_etags(header)
    return tags.star_tag or tags.contains_weak(etag.strip('"'))


def require_if_match(user: UserOut) -> None:
    """412 unless `If-Match` is absent, `*`, or lists the user's tag (strong comparison)."""
    header = request.headers.get("If-Match")
    if header is None:
        return
    tags = parse_etags(header)
    if not (tags.star_tag or tags.contains(etag_of(user).strip('"'))):
        raise PreconditionFailed(details={"If-Match": "Does not match the current ETag"})

"""Strong ETags and the If-Match / If-None-Match preconditions (RFC 9110)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from werkzeug.http import parse_etags

from ..errors import PreconditionFailed
from ..schemas import UserOut
from .context import current_request


def etag_of(user: UserOut) -> str:
    """A strong ETag: a digest of the representation, so an unchanged user keeps its tag."""
    return etag_of_json(user_json(user))


def etag_of_json(representation: bytes) -> str:
    """The ETag of a representation already in JSON (`user_json`)."""
    return f'"{hashlib.sha256(representation).hexdigest()[:32]}"'


def user_json(user: UserOut) -> bytes:
    """The user's representation as JSON: the bytes an answer carries and its ETag digests."""
    return USER_JSON(user)


USER_JSON = UserOut.__pydantic_serializer__.to_json


def not_modified(etag: str) -> bool:
    """`If-None-Match` matched (weak comparison, as RFC 9110 asks for GET)."""
    header = current_request().headers.get("If-None-Match")
    if header is None:
        return False
    tags = parse_etags(header)
    return tags.star_tag or tags.contains_weak(etag.strip('"'))


def if_match() -> Callable[[UserOut], None] | None:
    """The request's `If-Match` as a check for the write to run on the user it locked; None
    when there is nothing to check (no header, or `*`: the write finds the user or 404s).

    412 unless the header lists the user's tag (strong comparison). The check needs no request
    context, so it can run wherever the unit of work runs.
    """
    header = current_request().headers.get("If-Match")
    tags = None if header is None else parse_etags(header)
    if tags is None or tags.star_tag:
        return None

    def check(user: UserOut) -> None:
        if not tags.contains(etag_of(user).strip('"')):
            raise PreconditionFailed(details={"If-Match": "Does not match the current ETag"})

    return check

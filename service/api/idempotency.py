"""The `Idempotency-Key` header on POST /api/users."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, ParamSpec

from quart import request
from werkzeug.datastructures import Headers

from ..auth import optional_caller
from ..errors import ApiError, BadRequest
from ..request_ids import current_request_id
from ..runtime import runtime
from ..services import idempotency
from .guards import check_role_change

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MALFORMED = "Must be 1 to 255 printable ASCII characters"
STORED_ERRORS = frozenset({403, 409})
REPLAYED_HEADERS = ("Location", "ETag")
_VALID = re.compile(r"[\x20-\x7e]{1,255}")
logger = logging.getLogger("roster.idempotency")

P = ParamSpec("P")
Result = tuple[Any, int, Headers]


def idempotent(func: Callable[P, Awaitable[Result]]) -> Callable[P, Awaitable[Result]]:
    """Store the first outcome (201, 403, 409) of a request with a key; replay it for retries."""

    @wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Result:
        key = request.headers.get(HEADER)
        if key is None:
            return await func(*args, **kwargs)
        if not _VALID.fullmatch(key):
            await check_role_change()  # a 403 takes precedence over this 400
            raise BadRequest("Malformed Idempotency-Key header", details={HEADER: MALFORMED})
        claim = idempotency.Claim(scope=_scope(), key=key)
        fingerprint = idempotency.request_fingerprint(await request.get_json())
        ttl = runtime().settings.idempotency_ttl_seconds
        stored = await idempotency.claim(runtime().db, claim, fingerprint, ttl)
        if stored is not None:
            return _replay(stored)
        return await _first_run(claim, func(*args, **kwargs))

    return wrapper


async def _first_run(claim: idempotency.Claim, work: Awaitable[Result]) -> Result:
    db = runtime().db
    try:
        envelope, status, headers = await work
    except ApiError as error:
        if error.status in STORED_ERRORS:
            body = {
                "error": {"code": error.code, "message": error.message, "details": error.details}
            }
            await idempotency.store(db, claim, error.status, body, {})
        else:
            await _release(claim)
        raise
    except BaseException:
        await _release(claim)
        raise
    kept = {name: headers[name] for name in REPLAYED_HEADERS if name in headers}
    data = envelope.model_dump(mode="json")["data"]
    await idempotency.store(db, claim, status, {"data": data}, kept)
    return envelope, status, headers


def _replay(stored: idempotency.StoredOutcome) -> Result:
    body = {**stored.body, "meta": {"request_id": current_request_id()}}
    return body, stored.status, Headers({**stored.headers, REPLAYED: "true"})


async def _release(claim: idempotency.Claim) -> None:
    try:
        await idempotency.release(runtime().db, claim)
    except Exception:  # the database is failing too: the claim is taken over once abandoned
        logger.warning("could not release idempotency key claim", exc_info=True)


def _scope() -> str:
    caller = optional_caller()
    return "anonymous" if caller is None else f"user:{caller.user.id}"

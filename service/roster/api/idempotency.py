"""The `Idempotency-Key` header on POST /api/users (docs/API.md §3): the first outcome of a
request with a key is stored, and replayed for its retries."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

import orjson
from quart import Response
from werkzeug.datastructures import Headers

from ..db.database import Database
from ..domain import idempotency
from ..errors import ApiError, BadRequest
from ..http.context import current_request
from ..http.envelope import JSON
from ..http.request_ids import current_request_id
from ..runtime import Runtime
from .auth import Access

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MALFORMED = "Must be 1 to 255 printable ASCII characters"
STORED_ERRORS = frozenset({403, 409})
REPLAYED_HEADERS = ("Location", "ETag")
_VALID = re.compile(r"[\x20-\x7e]{1,255}")
logger = logging.getLogger("roster.idempotency")

Result = Response


async def once_per_key(
    runtime: Runtime,
    access: Access,
    refusal: ApiError | None,
    run: Callable[[], Awaitable[Result]],
) -> Result:
    """`run()` once per `Idempotency-Key` (none: every time). `refusal`, the request's 403
    worked out before the key was looked at, is the first outcome when there is one: it wins
    over a malformed key, and under a valid key it is stored and replayed like any outcome."""
    request = current_request()
    key = request.headers.get(HEADER)
    if key is None:
        return await run()
    if not _VALID.fullmatch(key):
        raise refusal or BadRequest("Malformed Idempotency-Key header", details={HEADER: MALFORMED})
    claim = idempotency.Claim(scope=_scope(access), key=key)
    fingerprint = idempotency.request_fingerprint(await request.get_json())
    ttl = runtime.settings.idempotency_ttl_seconds
    stored = await idempotency.claim(runtime.db, claim, fingerprint, ttl)
    if stored is not None:
        return _replay(stored)
    return await _first_run(runtime.db, claim, run())


async def _first_run(db: Database, claim: idempotency.Claim, work: Awaitable[Result]) -> Result:
    try:
        response = await work
    except ApiError as error:
        if error.status in STORED_ERRORS:
            body = {
                "error": {"code": error.code, "message": error.message, "details": error.details}
            }
            await idempotency.store(db, claim, error.status, body, {})
        else:
            await _release(db, claim)
        raise
    except BaseException:
        await _release(db, claim)
        raise
    kept = {name: response.headers[name] for name in REPLAYED_HEADERS if name in response.headers}
    data = orjson.loads(await response.get_data())["data"]
    await idempotency.store(db, claim, response.status_code, {"data": data}, kept)
    return response


def _replay(stored: idempotency.StoredOutcome) -> Result:
    body = {**stored.body, "meta": {"request_id": current_request_id()}}
    headers = Headers({**stored.headers, REPLAYED: "true"})
    return Response(orjson.dumps(body), stored.status, headers, content_type=JSON)


async def _release(db: Database, claim: idempotency.Claim) -> None:
    try:
        await idempotency.release(db, claim)
    except Exception:  # the database is failing too: the claim is taken over once abandoned
        logger.warning("could not release idempotency key claim", exc_info=True)


def _scope(access: Access) -> str:
    return "anonymous" if access.caller is None else f"user:{access.caller.user.id}"

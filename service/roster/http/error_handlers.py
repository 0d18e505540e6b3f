"""The one place that turns any exception into an error envelope."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from pydantic import ValidationError
from quart import Quart, Response, current_app, request
from quart_schema import RequestSchemaValidationError
from quart_schema.validation import QuerystringValidationError, RequestHeadersValidationError
from werkzeug.exceptions import BadHost, HTTPException

from .. import errors
from ..db.outage import is_schema_missing, is_unavailable
from ..settings import Settings
from .envelope import error_payload
from .problems import MEDIA_TYPE, prefers_problems, problem
from .routing import allow_header

logger = logging.getLogger("roster.errors")

_HTTP_ERRORS: dict[int, type[errors.ApiError]] = {
    400: errors.BadRequest,
    404: errors.NotFound,
    405: errors.MethodNotAllowed,
    408: errors.RequestTimeout,
    413: errors.PayloadTooLarge,
}
UNKNOWN_FIELD = "Unknown field"
NOT_A_HOST = "Not a host name (a label is empty or longer than 63 characters)"
MAX_DETAILS = 20  # an error lists this many problems at most, however many the input has
_MESSAGES = {
    "missing": "Field required",
    "extra_forbidden": UNKNOWN_FIELD,
    "model_type": "Must be a JSON object",
    "model_attributes_type": "Must be a JSON object",
    "dict_type": "Must be a JSON object",
}


SchemaProblem = Callable[[], Awaitable[str | None]]


def register_error_handlers(app: Quart, settings: Settings, schema_problem: SchemaProblem) -> None:
    """`schema_problem`: why the database cannot serve this release (or None), asked when a
    statement finds a table or column missing."""
    retry_after = settings.retry_after_seconds

    async def handle_error(error: Exception) -> Response:
        if is_schema_missing(error):
            problem = await _asked(schema_problem)
            if problem is not None:
                details = {"database": problem}
                api_error = errors.ServiceUnavailable.retry_in(
                    retry_after, errors.SCHEMA_NOT_READY, details
                )
                return error_response(api_error, error)
        return error_response(to_api_error(error, retry_after), error)

    app.register_error_handler(HTTPException, handle_error)
    app.register_error_handler(Exception, handle_error)


async def _asked(schema_problem: SchemaProblem) -> str | None:
    try:
        return await schema_problem()
    except Exception:  # the database went away meanwhile: the error speaks for itself
        return None


def error_response(api_error: errors.ApiError, error: Exception) -> Response:
    """The envelope (or the problem details, for an `Accept` that prefers them) of an error."""
    if api_error.status >= 500 and not isinstance(api_error, errors.ServiceUnavailable):
        logger.error("unhandled error", exc_info=error)
    elif isinstance(api_error, errors.ServiceUnavailable):
        logger.warning("database unavailable: %s", error)
    status, code, message, details = (
        api_error.status,
        api_error.code,
        api_error.message,
        api_error.details,
    )
    if prefers_problems(request.headers.get("Accept")):
        body, media_type = problem(status, code, message, details), MEDIA_TYPE
    else:
        body, media_type = error_payload(code, message, details), "application/json"
    response = Response(
        current_app.json.dumps(body), status=status, headers=api_error.headers, mimetype=media_type
    )
    response.vary.add("Accept")  # the error's form follows Accept
    return response


def to_api_error(error: Exception, retry_after: int) -> errors.ApiError:
    if isinstance(error, errors.ApiError):
        return error
    if isinstance(error, RequestSchemaValidationError):
        return _from_validation(error)
    if isinstance(error, HTTPException):
        return _from_http(error)
    if is_unavailable(error):  # only a database that cannot be reached; other errors are bugs
        return errors.ServiceUnavailable.retry_in(retry_after)
    return errors.ApiError()


def _from_http(error: HTTPException) -> errors.ApiError:
    status = error.code or 500
    if status >= 500:
        return errors.ApiError()
    if isinstance(error, BadHost):
        return errors.BadRequest("Malformed header", details={"Host": NOT_A_HOST})
    api_error = _HTTP_ERRORS.get(status, errors.BadRequest)()
    api_error.status = status
    if status == 404:
        api_error.message = "Route not found"
    valid_methods: Iterable[str] | None = getattr(error, "valid_methods", None)
    if valid_methods:
        api_error.headers["Allow"] = allow_header(valid_methods)
    return api_error


def _from_validation(error: RequestSchemaValidationError) -> errors.ApiError:
    cause = error.validation_error
    if isinstance(error, QuerystringValidationError):
        details = _details(cause, root="query")
        return errors.ValidationFailed("Invalid query parameters", details=details)
    if isinstance(error, RequestHeadersValidationError):
        details = _details(cause, root="headers", header_names=True)
        return errors.BadRequest("Malformed header", details=details)
    return errors.ValidationFailed(details=_details(cause, root="body"))


def _details(cause: Exception, root: str, header_names: bool = False) -> Mapping[str, str]:
    if not isinstance(cause, ValidationError):
        return {root: str(cause)}
    details: dict[str, str] = {}
    for item in cause.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in item["loc"]) or root
        if header_names:
            location = "-".join(word.capitalize() for word in location.split("_"))
        details.setdefault(location, _message(item))
    return capped(details, root)


def capped(details: dict[str, str], root: str, total: int | None = None) -> dict[str, str]:
    """At most MAX_DETAILS entries (of `total` problems), the last one, under `root`, saying how
    many more there were."""
    total = len(details) if total is None else total
    if total <= MAX_DETAILS:
        return details
    kept = dict(list(details.items())[: MAX_DETAILS - 1])
    kept[root] = f"{total - len(kept)} more problems not listed"
    return kept


def _message(item: Any) -> str:
    return str(_MESSAGES.get(item["type"], item["msg"]))

"""Errors: one exception class per error code of the contract (docs/API.md), each carrying the
status, `code`, `message`, `details` and `request_id` of the response."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import httpx


class RosterError(Exception):
    """Anything this client raises."""


class TransportError(RosterError):
    """No response: the connection failed or timed out, even after the retries allowed."""


class ApiError(RosterError):
    """An error response. `code` is the envelope's `error.code`."""

    status = 0
    code = "ERROR"

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Mapping[str, str] | None = None,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details: dict[str, str] = dict(details or {})
        self.request_id = request_id
        self.headers: dict[str, str] = dict(headers or {})


class BadRequest(ApiError):
    code = "BAD_REQUEST"


class Unauthorized(ApiError):
    code = "UNAUTHORIZED"


class Forbidden(ApiError):
    code = "FORBIDDEN"


class AccountDisabled(Forbidden):
    code = "ACCOUNT_DISABLED"


class EmailNotVerified(Forbidden):
    code = "EMAIL_NOT_VERIFIED"


class InsufficientScope(Forbidden):
    """An API key used outside its scopes (`details["scope"]` names the one needed)."""

    code = "INSUFFICIENT_SCOPE"


class NotFound(ApiError):
    code = "NOT_FOUND"


class MethodNotAllowed(ApiError):
    code = "METHOD_NOT_ALLOWED"


class RequestTimeout(ApiError):
    code = "REQUEST_TIMEOUT"


class Conflict(ApiError):
    code = "CONFLICT"


class IdempotencyKeyInUse(Conflict):
    code = "IDEMPOTENCY_KEY_IN_USE"


class PreconditionFailed(ApiError):
    code = "PRECONDITION_FAILED"


class PayloadTooLarge(ApiError):
    code = "PAYLOAD_TOO_LARGE"


class ValidationFailed(ApiError):
    code = "VALIDATION_ERROR"


class IdempotencyKeyReused(ValidationFailed):
    code = "IDEMPOTENCY_KEY_REUSED"


class QueryTooExpensive(ValidationFailed):
    code = "QUERY_TOO_EXPENSIVE"


class RetryLater(ApiError):
    """An error that says when to try again (`Retry-After`, in seconds)."""

    @property
    def retry_after(self) -> float | None:
        return retry_after(self.headers)


class RateLimited(RetryLater):
    code = "RATE_LIMITED"


class ServerError(ApiError):
    code = "SERVER_ERROR"


class ServiceUnavailable(RetryLater):
    code = "SERVICE_UNAVAILABLE"


BY_CODE: dict[str, type[ApiError]] = {
    kind.code: kind
    for kind in (
        BadRequest, Unauthorized, Forbidden, AccountDisabled, EmailNotVerified,
        InsufficientScope, NotFound,
        MethodNotAllowed, RequestTimeout, Conflict, IdempotencyKeyInUse, PreconditionFailed,
        PayloadTooLarge, ValidationFailed, IdempotencyKeyReused, QueryTooExpensive, RateLimited,
        ServerError, ServiceUnavailable,
    )
}  # fmt: skip
BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 405: MethodNotAllowed,
    408: RequestTimeout, 409: Conflict, 412: PreconditionFailed, 413: PayloadTooLarge,
    422: ValidationFailed, 429: RateLimited, 503: ServiceUnavailable,
}  # fmt: skip


def retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after") or headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def error_of(response: httpx.Response) -> ApiError:
    """The exception for an error response: by its `error.code`, else by its status."""
    body: Any = None
    with contextlib.suppress(ValueError):
        body = response.json()
    error = body.get("error") if isinstance(body, dict) else None
    meta = body.get("meta") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    kind = BY_CODE.get(code or "") or BY_STATUS.get(response.status_code)
    kind = kind or (ServerError if response.status_code >= 500 else ApiError)
    return kind(
        response.status_code,
        code or kind.code,
        error.get("message", response.reason_phrase) if isinstance(error, dict) else response.text,
        error.get("details") if isinstance(error, dict) else None,
        meta.get("request_id") if isinstance(meta, dict) else response.headers.get("X-Request-ID"),
        dict(response.headers),
    )

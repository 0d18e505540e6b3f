"""Domain errors: each carries the status, code, message and details of its response."""

from __future__ import annotations

from collections.abc import Mapping

SCHEMA_NOT_READY = "The database schema is not what this release needs"


class ApiError(Exception):
    status = 500
    code = "SERVER_ERROR"
    message = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        details: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or type(self).message
        self.details: dict[str, str] = dict(details or {})
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(self.message)


class BadRequest(ApiError):
    status, code, message = 400, "BAD_REQUEST", "Bad request"


class Unauthorized(ApiError):
    status, code, message = 401, "UNAUTHORIZED", "Invalid token"


class Forbidden(ApiError):
    status, code, message = 403, "FORBIDDEN", "Not allowed"


class AccountDisabled(Forbidden):
    code, message = "ACCOUNT_DISABLED", "This account is disabled"


class InsufficientScope(Forbidden):
    code, message = "INSUFFICIENT_SCOPE", "This API key does not allow this request"


def insufficient_scope(scope: str | None) -> InsufficientScope:
    """403 with RFC 6750's challenge (§3.1), naming the scope that would allow the request
    where one would (none allows a key on the sessions and keys routes)."""
    challenge = 'Bearer error="insufficient_scope"'
    details = {}
    if scope is not None:
        challenge += f', scope="{scope}"'
        details = {"scope": f"Needs {scope}"}
    return InsufficientScope(details=details, headers={"WWW-Authenticate": challenge})


class EmailNotVerified(Forbidden):
    code, message = "EMAIL_NOT_VERIFIED", "This account's email address is not verified"


class NotFound(ApiError):
    status, code, message = 404, "NOT_FOUND", "Not found"


class MethodNotAllowed(ApiError):
    status, code, message = 405, "METHOD_NOT_ALLOWED", "Method not allowed"


class RequestTimeout(ApiError):
    status, code, message = 408, "REQUEST_TIMEOUT", "The request body did not arrive in time"


class Conflict(ApiError):
    status, code, message = 409, "CONFLICT", "Conflict"


class IdempotencyKeyInUse(Conflict):
    code, message = "IDEMPOTENCY_KEY_IN_USE", "A request with this Idempotency-Key is in progress"


class PreconditionFailed(ApiError):
    status, code, message = 412, "PRECONDITION_FAILED", "If-Match does not match the resource"


class PayloadTooLarge(ApiError):
    status, code, message = 413, "PAYLOAD_TOO_LARGE", "Request body is too large"


class ValidationFailed(ApiError):
    status, code, message = 422, "VALIDATION_ERROR", "Invalid input"


class IdempotencyKeyReused(ApiError):
    status, code = 422, "IDEMPOTENCY_KEY_REUSED"
    message = "This Idempotency-Key was used with a different request body"


class QueryTooExpensive(ApiError):
    status, code = 422, "QUERY_TOO_EXPENSIVE"
    message = "This list would take too long to compute: narrow it (a longer `q`, a filter)"


class RateLimited(ApiError):
    status, code, message = 429, "RATE_LIMITED", "Too many login attempts"


class ServiceUnavailable(ApiError):
    status, code, message = 503, "SERVICE_UNAVAILABLE", "The database is unavailable"

    @classmethod
    def retry_in(
        cls, seconds: int, message: str | None = None, details: Mapping[str, str] | None = None
    ) -> ServiceUnavailable:
        """503 with `Retry-After`: the database cannot be reached or is not ready, or the
        service is shutting down."""
        return cls(
            message,
            details={**(details or {}), "Retry-After": f"Retry in {seconds} seconds"},
            headers={"Retry-After": str(seconds)},
        )


def unauthorized(token_sent: bool) -> Unauthorized:
    """401 with the RFC 6750 challenge: `invalid_token` only when a token was presented."""
    if token_sent:
        return Unauthorized(
            "Invalid token", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )
    return Unauthorized("Token required", headers={"WWW-Authenticate": "Bearer"})

"""roster-client: a typed async client for the Roster API.

`async with RosterClient("http://127.0.0.1:8000") as roster:`, then
`await roster.login(email, password)` and `async for user in roster.users.iterate(...)`.
"""

from .client import (
    EmailVerifications,
    Page,
    PasswordResets,
    Retries,
    RosterClient,
    Session,
    Sessions,
    Token,
    User,
    Users,
)
from .errors import (
    AccountDisabled,
    ApiError,
    BadRequest,
    Conflict,
    EmailNotVerified,
    Forbidden,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    QueryTooExpensive,
    RateLimited,
    RequestTimeout,
    RetryLater,
    RosterError,
    ServerError,
    ServiceUnavailable,
    TransportError,
    Unauthorized,
    ValidationFailed,
)

__version__ = "1.2.0a1"
__all__ = [
    "AccountDisabled", "ApiError", "BadRequest", "Conflict", "EmailNotVerified",
    "EmailVerifications", "Forbidden", "IdempotencyKeyInUse", "IdempotencyKeyReused",
    "MethodNotAllowed", "NotFound", "Page", "PasswordResets", "PayloadTooLarge",
    "PreconditionFailed", "QueryTooExpensive", "RateLimited", "RequestTimeout", "Retries",
    "RetryLater", "RosterClient", "RosterError", "ServerError", "ServiceUnavailable", "Session",
    "Sessions", "Token", "TransportError", "Unauthorized", "User", "Users", "ValidationFailed",
]  # fmt: skip

"""Bearer tokens: issuing, hashing, and the decorators that authenticate a request."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from quart import g, request
from quart_schema import security_scheme
from quart_schema.extension import SecuritySchemeInput
from quart_schema.openapi import HttpSecurityScheme

from .errors import NotFound, unauthorized
from .queries import caller_by_token, user_by_id
from .runtime import runtime
from .schemas import UserOut

SCHEME = "bearerAuth"
SECURITY_SCHEMES: dict[str, SecuritySchemeInput] = {
    SCHEME: HttpSecurityScheme(scheme="bearer", bearer_format="opaque")
}
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Caller:
    user: UserOut
    token_id: int

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"


def new_token() -> tuple[str, str]:
    """A fresh token (256 random bits) and the hash that is all the database keeps of it."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization` header; None when there is none. 401 when malformed."""
    if header is None or header.strip() == "":
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise unauthorized(token_sent=True)
    return token


async def authenticate(required: bool, path_user_id: int | None = None) -> Caller | None:
    """401 for a missing (when required) or bad token; else the caller, kept in `g`.

    The user the path names (`path_user_id`) is read in the same query, kept for `path_user`.
    """
    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        if required:
            raise unauthorized(token_sent=False)
        return None
    found = await runtime().db.read(
        caller_by_token, hash_token(token), datetime.now(UTC), path_user_id
    )
    if found is None:
        raise unauthorized(token_sent=True)
    g.caller = caller = Caller(user=found.caller, token_id=found.token_id)
    if path_user_id is not None:
        g.path_user = found.path_user
    return caller


async def path_user(user_id: int) -> UserOut:
    """The user the path names: read with the caller's token when that ran, else now; 404."""
    if "path_user" in g:
        user: UserOut | None = g.path_user
    else:
        user = await runtime().db.read(user_by_id, user_id)
    if user is None:
        raise NotFound("User not found")
    return user


def current_caller() -> Caller:
    caller: Caller = g.caller
    return caller


def optional_caller() -> Caller | None:
    caller: Caller | None = g.get("caller")
    return caller


def login_required(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """401 unless a valid bearer token is presented. A route's `user_id` is read with it."""
    return _authenticating(func, required=True, schemes=[{SCHEME: []}])


def login_optional(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Anonymous callers pass; a token, if presented, must be valid."""
    return _authenticating(func, required=False, schemes=[{SCHEME: []}, {}])


def _authenticating(
    func: Callable[P, Awaitable[R]], required: bool, schemes: list[dict[str, list[str]]]
) -> Callable[P, Awaitable[R]]:
    @wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        path_user_id = kwargs.get("user_id")
        await authenticate(required, path_user_id if isinstance(path_user_id, int) else None)
        return await func(*args, **kwargs)

    documented: Any = security_scheme(schemes)(wrapper)
    return documented  # type: ignore[no-any-return]

"""Who may call a route (docs/API.md §2, §3): the bearer token (RFC 6750), the caller it belongs
to, the user the path names, and the fields only an admin may set.

`authorize` runs before the body is looked at, so its errors come first, in the contract's
order: 401, then 404 for a missing user, then 403. It hands the handler what it found as an
argument, `access`: with the rows of a read the route asks for `along` with the caller's, in
the same statement (a list page: one round trip where there were two).

The app gives `runtime=` to a view that asks for it: a handler that takes a parameter of that
name, or one under a decorator that needs it (marked GIVEN_RUNTIME), which passes it on only
to a handler that takes it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from functools import wraps
from inspect import signature
from typing import Any, TypeVar, cast

from quart import request
from quart_schema import security_scheme
from quart_schema.extension import SecuritySchemeInput
from quart_schema.openapi import HttpSecurityScheme

from ..db.audit import Origin
from ..db.queries import Along
from ..domain.sessions import Caller
from ..domain.tokens import authenticate
from ..errors import Forbidden, NotFound, insufficient_scope, unauthorized
from ..http.client_address import current_client_address
from ..http.context import current_g, current_request
from ..http.request_ids import current_request_id
from ..runtime import Runtime
from ..schemas import DEFAULT_ROLE, DEFAULT_STATUS, Scope, UserOut

SCHEME = "bearerAuth"
SECURITY_SCHEMES: dict[str, SecuritySchemeInput] = {
    SCHEME: HttpSecurityScheme(scheme="bearer", bearer_format="opaque")
}
# A field only an admin may set, and the value a user holds before anyone set it.
ADMIN_ONLY = {"role": DEFAULT_ROLE, "status": DEFAULT_STATUS}
View = TypeVar("View", bound=Callable[..., Awaitable[Any]])
GIVEN_RUNTIME = "_roster_given_runtime"  # a view's decorators need `runtime=`
ADMINS_ONLY = "Only an admin may do this"
# A route's read that can ride along with its caller's (None: not for this request).
ReadAlong = Callable[[Runtime], Along | None]


class Rule(Enum):
    ANYONE = "anyone"  # public; a token, if presented, must still be valid
    SIGNED_IN = "signed in"  # any live token
    SELF_OR_ADMIN = "self or admin"  # the user the path names, or an admin
    ADMIN = "admin"  # an admin (a key: an admin's, with the route's scope)


@dataclass(frozen=True)
class Access:
    """What `authorize` found: the caller (None for an anonymous ANYONE route), the user the
    route's path names (None when it names none), and the rows read along (None: not read)."""

    caller: Caller | None
    target: UserOut | None
    along: list[Any] | None = None

    @property
    def signed_in(self) -> Caller:
        assert self.caller is not None, "only for routes that need a token"
        return self.caller

    @property
    def user(self) -> UserOut:
        assert self.target is not None, "only for routes whose path names a user"
        return self.target


def authorize(
    rule: Rule, scope: Scope | None = None, along: ReadAlong | None = None
) -> Callable[[View], View]:
    """Authenticate and authorize, then call the handler with `access=`. An API key must
    reach `scope` (docs/API.md §2); without one, the route is for sessions only. `along`: the
    read to make in the caller's statement, for a route whose path names no user."""

    def decorator(func: View) -> View:
        passes_on = wants_runtime(func)

        @wraps(func)
        async def wrapper(*args: Any, runtime: Runtime, **kwargs: Any) -> Any:
            access = await _access(rule, scope, kwargs.get("user_id"), runtime, along)
            if passes_on:
                kwargs["runtime"] = runtime
            return await func(*args, access=access, **kwargs)

        setattr(wrapper, GIVEN_RUNTIME, True)

        if rule is not Rule.ANYONE:  # public routes show no lock in /docs
            security_scheme([{SCHEME: []}])(wrapper)
        return cast(View, wrapper)

    return decorator


def origin_of(caller: Caller | None, runtime: Runtime) -> Origin:
    """Where this request's changes come from, for their audit events (docs/API.md §7)."""
    address = current_client_address(runtime.settings.trusted_proxy_hops)
    if caller is None:
        return Origin(None, None, None, address, current_request_id())
    if caller.key_id is not None:
        return Origin(caller.user.id, "key", caller.key_id, address, current_request_id())
    return Origin(caller.user.id, "session", caller.token_id, address, current_request_id())


def wants_runtime(view: Callable[..., Any]) -> bool:
    """Whether `view` (or a decorator of it) takes `runtime=`."""
    return getattr(view, GIVEN_RUNTIME, False) or "runtime" in signature(view).parameters


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization` header; None when there is none. 401 when malformed."""
    if header is None or header.strip() == "":
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise unauthorized(token_sent=True)
    return token


async def _access(
    rule: Rule,
    scope: Scope | None,
    path_user_id: int | None,
    runtime: Runtime,
    along: ReadAlong | None,
) -> Access:
    token = bearer_token(current_request().headers.get("Authorization"))
    if token is None:
        if rule is not Rule.ANYONE:
            raise unauthorized(token_sent=False)
        return Access(None, None)
    read_along = None if along is None else along(runtime)
    presented = await authenticate(
        runtime.db, token, path_user_id, runtime.touches, runtime.key_touches, read_along
    )
    if presented is None:
        raise unauthorized(token_sent=True)
    caller = presented.caller
    current_g().caller = caller  # for the access line, written after the response
    if caller.scopes is not None and (scope is None or not caller.allows(scope)):
        raise insufficient_scope(scope)  # before a 404 that would tell which users exist
    if path_user_id is None:
        if rule is Rule.ADMIN and not caller.is_admin:
            raise Forbidden(ADMINS_ONLY)
        return Access(caller, None, presented.along)
    if presented.path_user is None:
        raise NotFound("User not found")
    if rule is Rule.SELF_OR_ADMIN and caller.user.id != path_user_id and not caller.is_admin:
        raise Forbidden("You may only change your own account")
    if rule is Rule.ADMIN and not caller.is_admin:
        raise Forbidden(ADMINS_ONLY)
    return Access(caller, presented.path_user)


async def admin_only_refusal(access: Access, fields: tuple[str, ...]) -> Forbidden | None:
    """The 403 for a non-admin's body that sets an admin-only field to anything but what is
    held (for a registration: the default), or None. 400 when the body is not JSON."""
    if not fields or (access.caller is not None and access.caller.is_admin):
        return None
    body = await request.get_json()
    if not isinstance(body, dict):
        return None
    for name in fields:
        held = getattr(access.target, name) if access.target is not None else ADMIN_ONLY[name]
        if name in body and body[name] != held:
            message = f"Only an admin may set the {name}"
            return Forbidden(message, details={name: message})
    return None

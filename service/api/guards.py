"""Decorators that run before body validation, so their errors take precedence (404, 403)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from quart import g, request

from ..auth import current_caller, optional_caller, path_user
from ..errors import Forbidden

P = ParamSpec("P")
R = TypeVar("R")
ADMIN_ONLY_ROLE = "Only an admin may set the role"


def own_or_admin(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """404 when the user does not exist, then 403 unless the caller is that user or an admin.

    Callers acting on themselves are the target: it exists, and nothing more is read.
    """

    @wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        user_id: Any = kwargs["user_id"]
        caller = current_caller()
        target = caller.user if caller.user.id == user_id else None
        if target is None:
            target = await path_user(user_id)
            if not caller.is_admin:
                raise Forbidden("You may only change your own account")
        g.target_role = target.role
        return await func(*args, **kwargs)

    return wrapper


async def check_role_change() -> None:
    """403 when a non-admin's body sets `role` to anything but the role already held.

    Registration counts `user` (the default) as already held.
    """
    caller = optional_caller()
    if caller is not None and caller.is_admin:
        return
    body = await request.get_json()
    held = g.get("target_role", "user")
    if isinstance(body, dict) and "role" in body and body["role"] != held:
        raise Forbidden(ADMIN_ONLY_ROLE, details={"role": ADMIN_ONLY_ROLE})


def role_needs_admin(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Run `check_role_change` before the body is validated (403 precedes 400 and 422)."""

    @wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        await check_role_change()
        return await func(*args, **kwargs)

    return wrapper

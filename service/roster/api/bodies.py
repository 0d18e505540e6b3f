"""What a route accepts as its body (docs/API.md §3): admin-only fields refused (403) before
the body is validated (422), and, for registration, one outcome per `Idempotency-Key`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from pydantic import BaseModel

from ..http.validation import document_body, load_body
from .auth import GIVEN_RUNTIME, Access, admin_only_refusal, wants_runtime
from .idempotency import Result, once_per_key

View = Callable[..., Awaitable[Result]]


def accepts(
    model: type[BaseModel], *, admin_only: tuple[str, ...] = (), idempotent: bool = False
) -> Callable[[View], View]:
    """Call the handler with `data=`, the body validated as `model`. Under `authorize`."""

    def decorator(func: View) -> View:
        document_body(func, model)
        passes_on = wants_runtime(func)

        @wraps(func)
        async def wrapper(*args: Any, access: Access, **kwargs: Any) -> Result:
            refusal = await admin_only_refusal(access, admin_only)
            runtime = kwargs.get("runtime") if passes_on else kwargs.pop("runtime", None)

            async def run() -> Result:
                if refusal is not None:
                    raise refusal
                data = await load_body(model)
                return await func(*args, data=data, access=access, **kwargs)

            if idempotent:
                assert runtime is not None, "given: the wrapper is marked GIVEN_RUNTIME"
                return await once_per_key(runtime, access, refusal, run)
            return await run()

        if idempotent:  # the stored outcomes are in the database
            setattr(wrapper, GIVEN_RUNTIME, True)
        return wrapper

    return decorator

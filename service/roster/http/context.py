"""The request being handled and its `g`, reached once per function.

An attribute read through Quart's proxies (`request.method`, `g.get(…)`) first fails the
proxy's own lookup — an AttributeError made and caught — before it reaches the object: ~3 µs
each here, against ~0.2 µs on the object itself and ~0.5 µs to reach it (werkzeug's documented
`_get_current_object`). A request read them about twenty times.
"""

from __future__ import annotations

from typing import Any, cast

from quart import Request, g, request
from quart.ctx import _AppCtxGlobals

Globals = _AppCtxGlobals  # a request's `g`, as the functions it is passed to name it


def current_request() -> Request:
    """The request being handled (outside one: RuntimeError, as the proxy raises)."""
    found: Request = cast(Any, request)._get_current_object()
    return found


def current_g() -> Globals:
    """The app context's `g` of the request being handled."""
    found: Globals = cast(Any, g)._get_current_object()
    return found

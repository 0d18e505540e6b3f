"""What routing says about a request: its route template, the methods a path allows, and
whether a path is a route at all."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from quart import current_app, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Rule

UNMATCHED = "unmatched"  # the route of a request no route matched (404, 405)
_PARAMETER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def route_template(rule: Rule | None) -> str:
    """`/api/users/{user_id}` for `/api/users/<int(min=1):user_id>`: a label, never a raw path."""
    return UNMATCHED if rule is None else _template(rule.rule)


@functools.cache
def _template(rule: str) -> str:
    return _PARAMETER.sub(r"{\1}", rule)  # once per rule, not per request


def allow_header(methods: Iterable[str]) -> str:
    return ", ".join(sorted({*methods, "OPTIONS"}))


def path_is_a_route_for(methods: Iterable[str]) -> bool:
    """Whether the request's path is a route for any of `methods`.

    werkzeug checks a rule's methods before its converters, so a path that no rule accepts (a
    user id out of range, for PUT) can come back as 405 instead of 404.
    """
    adapter = current_app.create_url_adapter(request)
    if adapter is None:
        return True
    for method in methods:
        try:
            adapter.match(method=method)
        except (NotFound, MethodNotAllowed):
            continue
        except HTTPException:  # a redirect: the route exists
            pass
        return True
    return False

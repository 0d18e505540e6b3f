"""OpenAPI additions quart-schema cannot express: bodiless responses and response headers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from quart_schema import validate_response
from quart_schema.openapi import OpenAPIProvider
from werkzeug.routing import Rule
from werkzeug.routing.converters import BaseConverter, NumberConverter

from .schemas import ErrorEnvelope

F = TypeVar("F", bound=Callable[..., Any])
_EXTRA = "_roster_responses"
_STRING = {"schema": {"type": "string"}}
_ERROR_DESCRIPTIONS = {
    400: "Malformed JSON, a non-JSON content type, or a malformed header",
    401: "No token, or an unknown, expired or revoked one",
    403: "Authenticated, but not allowed",
    404: "No such resource",
    409: "Conflict",
    412: "If-Match did not match",
    413: "Body over the size limit",
    422: "Validation failed",
    429: "Too many attempts",
    503: "The database is unavailable",
}


def errors(*statuses: int) -> Callable[[F], F]:
    """Document the error envelope for each status a route can answer with."""

    def decorator(func: F) -> F:
        for status in statuses:
            func = validate_response(ErrorEnvelope, status)(func)
        return func

    return decorator


def response(
    status: int, description: str, *headers: str, text: str | None = None
) -> Callable[[F], F]:
    """Document a bodiless response, headers on a documented one, or a `text` body of that
    media type."""

    def decorator(func: F) -> F:
        extra: dict[int, dict[str, Any]] = dict(getattr(func, _EXTRA, {}))
        extra[status] = {"description": description, "headers": headers, "text": text}
        setattr(func, _EXTRA, extra)
        return func

    return decorator


class RosterOpenAPIProvider(OpenAPIProvider):
    def build_paths(self, rule: Rule) -> tuple[dict[Any, Any], dict[Any, Any]]:
        paths, components = super().build_paths(rule)
        func = self._app.view_functions[rule.endpoint]
        extra: dict[int, dict[str, Any]] = getattr(func, _EXTRA, {})
        for operations in paths.values():
            for operation in operations.values():
                operation["responses"] = _responses(operation["responses"], extra)
        return paths, components

    def build_path_parameter(self, name: str, converter: BaseConverter) -> dict[str, Any]:
        parameter = super().build_path_parameter(name, converter)
        if isinstance(converter, NumberConverter):
            if converter.min is not None:
                parameter["schema"]["minimum"] = converter.min
            if converter.max is not None:
                parameter["schema"]["maximum"] = converter.max
        return parameter


def _responses(
    documented: dict[int, dict[str, Any]], extra: dict[int, dict[str, Any]]
) -> dict[int, dict[str, Any]]:
    responses = {status: dict(value) for status, value in documented.items()}
    for status, spec in extra.items():
        target = responses.setdefault(status, {"description": spec["description"]})
        target["description"] = target.get("description") or spec["description"]
        target["headers"] = {name: dict(_STRING) for name in spec["headers"]}
        if spec.get("text"):
            target["content"] = {spec["text"]: dict(_STRING)}
    for status, target in responses.items():
        if status in (429, 503):
            target.setdefault("headers", {})["Retry-After"] = dict(_STRING)
        if status in _ERROR_DESCRIPTIONS:
            target["description"] = _ERROR_DESCRIPTIONS[status]
        target.setdefault("headers", {})["X-Request-ID"] = dict(_STRING)
    return dict(sorted(responses.items()))

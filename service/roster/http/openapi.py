"""How /openapi.json is built: quart-schema's provider, with every body, envelope and error a
named component, the headers a client sends and reads declared, and schemas that say exactly
what the code accepts. Routes describe themselves with `api.contract.operation`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from quart_schema.openapi import OpenAPIProvider
from quart_schema.validation import DataSource
from werkzeug.routing import Rule
from werkzeug.routing.converters import BaseConverter, NumberConverter

from ..schemas import MAX_ID
from .problems import MEDIA_TYPE as PROBLEM_MEDIA_TYPE
from .problems import Problem

DOC_ATTRIBUTE = "_roster_operation"
COMPONENTS = "#/components/schemas/"
_INT64 = {"type": "integer", "format": "int64"}
_STRING = {"type": "string"}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Every header an operation can declare: where it goes, and what it means.
REQUEST_HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "Your id for the request, echoed back when it is 1-128 of "
        "`A-Z a-z 0-9 . _ -`; any other value is replaced by one the service makes, never "
        "refused.",
        "schema": _STRING,
    },
    "If-Match": {
        "description": "Apply only if the user's current ETag is listed (or `*`); else 412.",
        "schema": _STRING,
    },
    "If-None-Match": {
        "description": "304 (no body) if the user's current ETag is listed (or `*`).",
        "schema": _STRING,
    },
    "Idempotency-Key": {
        "description": "1-255 printable ASCII characters: a retry with the same key and body "
        "replays the first outcome instead of registering twice.",
        "schema": {"type": "string", "pattern": r"^[\x20-\x7e]{1,255}$"},
    },
}
RESPONSE_HEADERS: dict[str, str] = {
    "X-Request-ID": "The request's id (the client's, or one made for it) = `meta.request_id`.",
    "ETag": "The user's strong entity tag.",
    "Location": "The URL of the created resource.",
    "Link": "RFC 8288 links to the first, last, previous and next pages.",
    "Retry-After": "Seconds to wait before trying again.",
    "Cache-Control": "`no-store`: a token is never cached.",
    "Idempotent-Replayed": "`true` when this is the stored outcome of an earlier request.",
    "WWW-Authenticate": "The RFC 6750 Bearer challenge.",
    "RateLimit-Policy": 'The login limits: `"email";q=10;w=60, "address";q=1000;w=60`.',
    "RateLimit": 'The tightest limit\'s state: `"email";r=<remaining>;t=<seconds>`.',
    "Allow": "The methods the route allows.",
}
ERROR_DESCRIPTIONS = {
    400: "Malformed JSON, a non-JSON content type, or a malformed header",
    401: "No token, or an unknown, expired or revoked one",
    403: "Authenticated, but not allowed (`ACCOUNT_DISABLED` at login for a disabled user; "
    "`EMAIL_NOT_VERIFIED` at login when `REQUIRE_VERIFIED_EMAIL` is on)",
    404: "No such resource",
    405: "The route does not allow this method",
    408: "The body did not arrive in time",
    409: "Conflict",
    412: "If-Match did not match",
    413: "Body over the size limit",
    422: "Validation failed",
    429: "Too many attempts",
    500: "A bug: generic message, no details",
    503: "The database is unavailable, or the service is shutting down",
}
ERROR_HEADERS = {
    401: ("WWW-Authenticate",),
    405: ("Allow",),
    429: ("Retry-After",),
    503: ("Retry-After",),
}


@dataclass(frozen=True)
class Reply:
    """A response an operation documents: a model's JSON, a text body, or no body."""

    status: int
    model: type[Any] | None = None
    description: str = ""
    headers: tuple[str, ...] = ()
    text: str | None = None  # a media type: the body is text of that type


FORM = "application/x-www-form-urlencoded"
FORM_TOO = "form_encoded_too"  # a body model's class attribute: it may come form-encoded too


@dataclass(frozen=True)
class OperationDoc:
    operation_id: str
    tag: str
    replies: dict[int, Reply] = field(default_factory=dict)
    request_headers: tuple[str, ...] = ()


def documentation(func: Callable[..., Any]) -> OperationDoc | None:
    doc: OperationDoc | None = getattr(func, DOC_ATTRIBUTE, None)
    return doc


class RosterOpenAPIProvider(OpenAPIProvider):
    def schema(self) -> dict[str, Any]:
        document = super().schema()
        components = document["components"]["schemas"]
        components[Problem.__name__] = Problem.model_json_schema()
        for name, schema in components.items():
            components[name] = _cleaned(schema)
        document["components"]["schemas"] = dict(sorted(components.items()))
        document["paths"] = dict(sorted(document["paths"].items()))
        return document

    def build_paths(self, rule: Rule) -> tuple[dict[Any, Any], dict[Any, Any]]:
        paths, components = super().build_paths(rule)
        doc = documentation(self._app.view_functions[rule.endpoint])
        for operations in paths.values():
            for operation in operations.values():
                _describe(operation, doc)
        return paths, components

    def operation_id(self, method: str, path: str, func: Callable[..., Any]) -> str | None:
        doc = documentation(func)
        return doc.operation_id if doc is not None else func.__name__

    def build_path_parameter(self, name: str, converter: BaseConverter) -> dict[str, Any]:
        parameter = super().build_path_parameter(name, converter)
        if isinstance(converter, NumberConverter):
            schema: dict[str, Any] = (
                dict(_INT64) if converter.max == MAX_ID else {"type": "integer"}
            )
            if converter.min is not None:
                schema["minimum"] = converter.min
            parameter["schema"] = schema
        return parameter

    def build_querystring_parameters(
        self, model: type[Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        parameters, definitions = super().build_querystring_parameters(model)
        for parameter in parameters:
            parameter["schema"] = _cleaned(_not_null(parameter["schema"]))
        return parameters, definitions

    def build_request_body(
        self, model: type[Any], source: DataSource
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        body, definitions = super().build_request_body(model, source)
        for media in body["content"].values():
            definitions[model.__name__] = media["schema"]
            media["schema"] = {"$ref": COMPONENTS + model.__name__}
        if getattr(model, FORM_TOO, False):  # RFC 7662's own body, beside JSON
            body["content"][FORM] = {"schema": {"$ref": COMPONENTS + model.__name__}}
        body["required"] = True
        return body, definitions

    def build_response_object(
        self, model: type[Any], headers_model: type[Any] | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        response, definitions = super().build_response_object(model, headers_model)
        for media in response["content"].values():
            definitions[model.__name__] = media["schema"]
            media["schema"] = {"$ref": COMPONENTS + model.__name__}
        return response, definitions


def _describe(operation: dict[str, Any], doc: OperationDoc | None) -> None:
    """Add what quart-schema cannot say: tags, headers, bodiless and text replies, errors."""
    parameters = operation.setdefault("parameters", [])
    headers = ("X-Request-ID", *(doc.request_headers if doc else ()))
    parameters.extend({"name": name, "in": "header", **REQUEST_HEADERS[name]} for name in headers)
    responses: dict[int, dict[str, Any]] = {
        int(status): dict(value) for status, value in operation["responses"].items()
    }
    if doc is not None:
        operation["tags"] = [doc.tag]
        for status, reply in doc.replies.items():
            target = responses.setdefault(status, {})
            target["description"] = reply.description or target.get("description") or ""
            if reply.text is not None:
                target["content"] = {reply.text: {"schema": dict(_STRING)}}
            _add_headers(target, reply.headers)
    for status, target in responses.items():
        if status >= 400:
            target["description"] = ERROR_DESCRIPTIONS.get(status, target.get("description", ""))
            _add_headers(target, ERROR_HEADERS.get(status, ()))
            # The same error as RFC 9457 problem details, for an Accept that prefers them.
            target.setdefault("content", {})[PROBLEM_MEDIA_TYPE] = {
                "schema": {"$ref": COMPONENTS + Problem.__name__}
            }
        _add_headers(target, ("X-Request-ID",))
    operation["responses"] = {str(status): responses[status] for status in sorted(responses)}


def _add_headers(response: dict[str, Any], names: Iterable[str]) -> None:
    headers = response.setdefault("headers", {})
    for name in names:
        headers[name] = {"description": RESPONSE_HEADERS[name], "schema": dict(_STRING)}


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a string: `X | None` documents as `X`."""
    options = schema.get("anyOf")
    if options is None:
        return schema
    kept = [option for option in options if option.get("type") != "null"]
    rest = {key: value for key, value in schema.items() if key not in ("anyOf", "default")}
    return {**kept[0], **rest} if len(kept) == 1 else {**schema, "anyOf": kept}


def _cleaned(schema: Any) -> Any:
    """JSON Schema that says what the code does: no `default: null` on a field that cannot be
    null, 64-bit integers as `int64` (not a maximum no JavaScript number can hold), and enum
    values that are not identifiers named for code generators (`-id` is `ID_DESC`)."""
    if isinstance(schema, list):
        return [_cleaned(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    cleaned = {key: _cleaned(value) for key, value in schema.items()}
    if cleaned.get("default", ...) is None and not _nullable(cleaned):
        del cleaned["default"]
    if cleaned.get("maximum") == MAX_ID:
        del cleaned["maximum"]
        cleaned["format"] = "int64"
    values = cleaned.get("enum") or []
    strings = bool(values) and all(isinstance(value, str) for value in values)
    if strings and not all(_IDENTIFIER.match(value) for value in values):
        cleaned["x-enum-varnames"] = [_enum_name(value) for value in values]
    return cleaned


def _nullable(schema: dict[str, Any]) -> bool:
    if schema.get("type") == "null" or "null" in (schema.get("type") or []):
        return True
    return any(option.get("type") == "null" for option in schema.get("anyOf", []))


def _enum_name(value: str) -> str:
    descending = value.startswith("-")
    name = re.sub(r"[^A-Za-z0-9]+", "_", value.lstrip("-")).strip("_").upper() or "EMPTY"
    return f"{name}_DESC" if descending else name

"""Request body and query string validation, documented as quart-schema documents its own:
the same attributes, the same exceptions, but the model's built-once validator (quart-schema's
builds a TypeAdapter per request)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from quart_schema import RequestSchemaValidationError
from quart_schema.validation import (
    QUART_SCHEMA_QUERYSTRING_ATTRIBUTE,
    QUART_SCHEMA_REQUEST_ATTRIBUTE,
    DataSource,
    QuerystringValidationError,
)

from ..errors import ValidationFailed
from .context import current_request
from .error_handlers import MAX_DETAILS, UNKNOWN_FIELD, capped

M = TypeVar("M", bound=BaseModel)
MAX_KEYS = 64  # more keys than any body has fields: most of them are unknown
View = Callable[..., Awaitable[Any]]


def validate_body(model: type[BaseModel]) -> Callable[[View], View]:
    """Pass the JSON body, validated as `model`, to the view as `data`; 422 otherwise."""

    def decorator(func: View) -> View:
        document_body(func, model)

        @wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            return await func(*args, data=await load_body(model), **kwargs)

        return wrapper

    return decorator


def document_body(func: View, model: type[BaseModel]) -> None:
    """/openapi.json shows `model` as the route's JSON request body."""
    setattr(func, QUART_SCHEMA_REQUEST_ATTRIBUTE, (model, DataSource.JSON))


async def load_body(model: type[M]) -> M:
    """The request's JSON body validated as `model`: 400 when it is not JSON, 422 when invalid."""
    return _load(model, await current_request().get_json(), RequestSchemaValidationError)


async def load_form_or_json(model: type[M]) -> M:
    """The request's body, form-encoded (as RFC 7662 §2.1 sends it) or JSON, validated as
    `model`: a field given twice in a form arrives as a list (and so fails a scalar field)."""
    request = current_request()
    if request.mimetype == "application/x-www-form-urlencoded":
        form = await request.form
        raw = {key: values if len(values) > 1 else values[0] for key, values in form.lists()}
        return _load(model, raw, RequestSchemaValidationError)
    return await load_body(model)


def validate_query(model: type[BaseModel]) -> Callable[[View], View]:
    """Pass the query string, validated as `model`, to the view as `query_args`; 422 otherwise.

    A parameter given more than once arrives as a list (and so fails a scalar field).
    """

    def decorator(func: View) -> View:
        setattr(func, QUART_SCHEMA_QUERYSTRING_ATTRIBUTE, model)

        @wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            query_args = _load(model, _raw_query(), QuerystringValidationError)
            return await func(*args, query_args=query_args, **kwargs)

        return wrapper

    return decorator


def query_of(model: type[M]) -> M | None:
    """The query string as `validate_query` passes it to the view; None when it is invalid
    (`validate_query` then answers 422)."""
    try:
        return model.model_validate(_raw_query())
    except ValidationError:
        return None


def _raw_query() -> dict[str, Any]:
    return {
        key: values if len(values) > 1 else values[0]
        for key, values in current_request().args.lists()
    }


def _load(model: type[M], raw: Any, error: type[RequestSchemaValidationError]) -> M:
    if error is RequestSchemaValidationError and isinstance(raw, dict) and len(raw) > MAX_KEYS:
        _refuse_unknown_keys(model, raw)
    try:
        return model.model_validate(raw)
    except ValidationError as invalid:
        raise error(invalid) from None


def _refuse_unknown_keys(model: type[BaseModel], body: dict[str, Any]) -> None:
    """A body with far more keys than the model has fields: name a few unknown ones and stop,
    rather than have pydantic build an error per key (a 1 MiB body holds tens of thousands)."""
    unknown = [key for key in body if key not in model.model_fields]
    details = dict.fromkeys(unknown[:MAX_DETAILS], UNKNOWN_FIELD)
    raise ValidationFailed(details=capped(details, "body", total=len(unknown)))

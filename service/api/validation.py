"""Request body and query string validation, documented exactly as quart-schema documents it.

quart-schema's own `validate_request`/`validate_querystring` build a pydantic TypeAdapter on
every request (a profile showed it on the hot paths); these validate with the model's own,
built-once validator and raise the same exceptions, and they set the same attributes, so
/openapi.json is unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from quart import request
from quart_schema import RequestSchemaValidationError
from quart_schema.validation import (
    QUART_SCHEMA_QUERYSTRING_ATTRIBUTE,
    QUART_SCHEMA_REQUEST_ATTRIBUTE,
    DataSource,
    QuerystringValidationError,
)

M = TypeVar("M", bound=BaseModel)
View = Callable[..., Awaitable[Any]]


def validate_body(model: type[BaseModel]) -> Callable[[View], View]:
    """Pass the JSON body, validated as `model`, to the view as `data`; 422 otherwise."""

    def decorator(func: View) -> View:
        setattr(func, QUART_SCHEMA_REQUEST_ATTRIBUTE, (model, DataSource.JSON))

        @wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            data = _load(model, await request.get_json(), RequestSchemaValidationError)
            return await func(*args, data=data, **kwargs)

        return wrapper

    return decorator


def validate_query(model: type[BaseModel]) -> Callable[[View], View]:
    """Pass the query string, validated as `model`, to the view as `query_args`; 422 otherwise.

    A parameter given more than once arrives as a list (and so fails a scalar field).
    """

    def decorator(func: View) -> View:
        setattr(func, QUART_SCHEMA_QUERYSTRING_ATTRIBUTE, model)

        @wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            raw = {
                key: values if len(values) > 1 else values[0]
                for key, values in request.args.lists()
            }
            query_args = _load(model, raw, QuerystringValidationError)
            return await func(*args, query_args=query_args, **kwargs)

        return wrapper

    return decorator


def _load(model: type[M], raw: Any, error: type[RequestSchemaValidationError]) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as invalid:
        raise error(invalid) from None

"""The envelope every JSON body has (docs/API.md §1): `data` or `error`, and `meta`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from ..pages import CursorMeta, Meta, PageMeta
from .request_ids import current_request_id

DataT = TypeVar("DataT")


class DataEnvelope(BaseModel, Generic[DataT]):
    data: DataT
    meta: Meta


class ListEnvelope(BaseModel, Generic[DataT]):
    data: list[DataT]
    meta: PageMeta | CursorMeta


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, str]


class ErrorEnvelope(BaseModel):
    """Every error response."""

    error: ErrorBody
    meta: Meta


def meta() -> Meta:
    return Meta(request_id=current_request_id())


def error_payload(code: str, message: str, details: Mapping[str, str]) -> dict[str, Any]:
    return {
        "error": {"code": code, "message": message, "details": dict(details)},
        "meta": {"request_id": current_request_id()},
    }

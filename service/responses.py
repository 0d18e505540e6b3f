"""The envelope: how every JSON body is shaped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .request_ids import current_request_id
from .schemas import Meta


def meta() -> Meta:
    return Meta(request_id=current_request_id())


def error_payload(code: str, message: str, details: Mapping[str, str]) -> dict[str, Any]:
    return {
        "error": {"code": code, "message": message, "details": dict(details)},
        "meta": {"request_id": current_request_id()},
    }

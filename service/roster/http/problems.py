"""RFC 9457 problem details, on request (docs/API.md §1): when the request's `Accept` prefers
`application/problem+json` over `application/json`, errors are problem objects instead of the
error envelope."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Literal

from pydantic import BaseModel, Field

from .request_ids import current_request_id

MEDIA_TYPE = "application/problem+json"
# RFC 9110's reason phrases where Python's still use RFC 7231's.
_TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}


class Problem(BaseModel):
    """An error as RFC 9457 problem details, with the envelope's code, details and request id."""

    type: Literal["about:blank"] = Field(description="Always `about:blank`.")
    title: str = Field(description="The status's reason phrase.")
    status: int
    detail: str = Field(description="The envelope's `message`.")
    code: str
    details: dict[str, str]
    request_id: str


def prefers_problems(accept: str | None) -> bool:
    """Whether `accept` ranks `application/problem+json` above `application/json` by q-value
    (listed without `application/json` counts as above it)."""
    if not accept:
        return False
    ranges = _parse(accept)
    return _quality(ranges, "application", "problem+json") > _quality(ranges, "application", "json")


def problem(status: int, code: str, message: str, details: Mapping[str, str]) -> dict[str, Any]:
    return {
        "type": "about:blank",
        "title": title(status),
        "status": status,
        "detail": message,
        "code": code,
        "details": dict(details),
        "request_id": current_request_id(),
    }


def title(status: int) -> str:
    if status in _TITLES:
        return _TITLES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


Range = tuple[str, str, float]


def _parse(accept: str) -> list[Range]:
    ranges: list[Range] = []
    for item in accept.split(","):
        media, *parameters = (part.strip() for part in item.split(";"))
        kind, _, subtype = media.lower().partition("/")
        if not kind or not subtype:
            continue
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = min(max(float(value.strip()), 0.0), 1.0)
                except ValueError:
                    quality = 0.0
        ranges.append((kind, subtype, quality))
    return ranges


def _quality(ranges: list[Range], kind: str, subtype: str) -> float:
    """The q of the most specific range matching kind/subtype (RFC 9110 §12.5.1); 0 if none."""
    best: tuple[int, float] = (-1, 0.0)
    for range_kind, range_subtype, quality in ranges:
        if range_kind == kind and range_subtype == subtype:
            specificity = 2
        elif range_kind == kind and range_subtype == "*":
            specificity = 1
        elif range_kind == "*" and range_subtype == "*":
            specificity = 0
        else:
            continue
        if specificity > best[0]:
            best = (specificity, quality)
    return best[1]

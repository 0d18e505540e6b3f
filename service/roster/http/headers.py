"""Request headers whose absent names cost no exception."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from werkzeug.datastructures import Headers

T = TypeVar("T")


class LookupHeaders(Headers):
    """werkzeug's `get` and `in` raise and catch an HTTP exception (BadRequestKeyError, about
    2 µs) for each name a request lacks, and a request is asked for about ten it lacks."""

    def get(  # type: ignore[override]
        self, key: str, default: Any = None, type: Callable[[str], T] | None = None
    ) -> Any:
        lowered = key.lower()
        for name, value in self._list:
            if name.lower() == lowered:
                if type is None:
                    return value
                try:
                    return type(value)
                except ValueError:  # as werkzeug's: an unconvertible value is an absent one
                    return default
        return default

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return super().__contains__(key)  # type: ignore[operator]
        lowered = key.lower()
        return any(name.lower() == lowered for name, _ in self._list)


def lookup(headers: Headers) -> None:
    """Make `headers` (werkzeug's, as Quart builds them for a request) a LookupHeaders, in place."""
    if type(headers) is Headers:
        headers.__class__ = LookupHeaders

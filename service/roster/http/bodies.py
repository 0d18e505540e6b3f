"""The request class: JSON bodies (docs/API.md §1, Bodies) parsed strictly, refused with 400;
its blueprints looked up once per endpoint."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import orjson
from quart import Request
from quart.helpers import _split_blueprint_path
from werkzeug.datastructures import Headers
from werkzeug.exceptions import RequestTimeout

from ..errors import BadRequest
from .headers import lookup

NOT_JSON = "Content-Type must be application/json"


class RosterRequest(Request):
    def __init__(self, method: str, scheme: str, path: str, query_string: bytes,
                 headers: Headers, *args: Any, **kwargs: Any) -> None:  # fmt: skip
        lookup(headers)  # the Headers Quart just built for this request
        super().__init__(method, scheme, path, query_string, headers, *args, **kwargs)

    @property
    def blueprints(self) -> list[str]:
        """Quart's, which imports a helper and splits the endpoint again on every call (three
        calls a request): the same list for the same endpoint."""
        rule = self.url_rule
        return [] if rule is None else _blueprints_of(rule.endpoint)

    async def get_data(  # type: ignore[override]
        self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False
    ) -> str | bytes:
        """Quart's, with the body awaited inside `asyncio.timeout`: its `wait_for` is one more
        task per read on Python 3.11, and a request's body is read twice (413 check, JSON); the
        second read has nothing to wait for, and no timer is set for it."""
        if parse_form_data:
            return await super().get_data(cache, as_text, parse_form_data)
        if self.body._complete.is_set():  # read before (the 413 check): nothing to wait for
            raw: bytes = await self.body
        else:
            raw = await self._received()
        if not cache:
            self.body.clear()
        return raw.decode() if as_text else raw

    async def _received(self) -> bytes:
        try:
            async with asyncio.timeout(self.body_timeout):
                raw: bytes = await self.body
        except TimeoutError as error:
            raise RequestTimeout() from error
        return raw

    async def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        if cache and self._cached_json[False] is not Ellipsis:
            return self._cached_json[False]
        if not self.is_json:
            raise BadRequest(NOT_JSON, details={"Content-Type": NOT_JSON})
        raw = await self.get_data(as_text=False)
        try:
            result = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            # orjson also refuses invalid UTF-8 and lone surrogates, which no column can store.
            raise BadRequest("Body is not valid JSON", details={"body": _describe(error)}) from None
        if cache:
            self._cached_json[False] = result
        return result


@functools.cache
def _blueprints_of(endpoint: str) -> list[str]:
    """The blueprints of `endpoint`, innermost first, as Quart splits them (`a.b.view` → `a.b`,
    `a`)."""
    blueprint, dot, _ = endpoint.rpartition(".")
    return _split_blueprint_path(blueprint) if dot else []


def _describe(error: orjson.JSONDecodeError) -> str:
    reason = str(error.msg) if error.msg else "Malformed JSON"
    return f"{reason} (line {error.lineno}, column {error.colno})"

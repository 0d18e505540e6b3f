"""The request class: JSON bodies (docs/API.md §1, Bodies) parsed strictly, refused with 400."""

from __future__ import annotations

from typing import Any

import orjson
from quart import Request

from ..errors import BadRequest

NOT_JSON = "Content-Type must be application/json"


class RosterRequest(Request):
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


def _describe(error: orjson.JSONDecodeError) -> str:
    reason = str(error.msg) if error.msg else "Malformed JSON"
    return f"{reason} (line {error.lineno}, column {error.colno})"

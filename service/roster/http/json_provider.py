"""JSON via orjson, for request bodies and every response."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic_core import to_jsonable_python
from quart.json.provider import DefaultJSONProvider


class OrjsonProvider(DefaultJSONProvider):
    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return orjson.dumps(
            obj, default=to_jsonable_python, option=orjson.OPT_NON_STR_KEYS
        ).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)

"""One decorator for what a route documents: its operation id and tag, each reply (status,
model, headers), the errors it can give, and the headers a client may send."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quart_schema import validate_response

from ..http.envelope import ErrorEnvelope
from ..http.openapi import DOC_ATTRIBUTE, OperationDoc, Reply

ErrorSpec = int | Reply
Handler = Callable[..., Any]


def operation(
    operation_id: str,
    tag: str,
    *replies: Reply,
    errors: tuple[ErrorSpec, ...] = (),
    request_headers: tuple[str, ...] = (),
) -> Callable[[Handler], Handler]:
    """`replies` are the successes (a model's JSON is validated on the way out); `errors` the
    error envelopes it can answer with, as statuses or `Reply`s that add headers."""
    error_replies = [spec if isinstance(spec, Reply) else Reply(spec) for spec in errors]

    def decorator(func: Handler) -> Handler:
        documented = func
        for reply in [*replies, *error_replies]:
            model = reply.model or (ErrorEnvelope if reply.status >= 400 else None)
            if model is not None:
                documented = validate_response(model, reply.status)(documented)
        all_replies = {reply.status: reply for reply in [*replies, *error_replies]}
        setattr(
            documented,
            DOC_ATTRIBUTE,
            OperationDoc(operation_id, tag, all_replies, request_headers),
        )
        return documented

    return decorator

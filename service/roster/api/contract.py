"""One decorator for what a route documents: its operation id and tag, each reply (status,
model, headers), the errors it can give, and the headers a client may send.

Documentation only: nothing wraps the handler. Its replies are the models it returns (typed,
and checked by mypy), and its errors are raised, not returned.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quart_schema import document_response

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
    """`replies` are the successes; `errors` the error envelopes it can answer with, as
    statuses or `Reply`s that add headers."""
    error_replies = [spec if isinstance(spec, Reply) else Reply(spec) for spec in errors]
    every_reply = {reply.status: reply for reply in [*replies, *error_replies]}

    def decorator(func: Handler) -> Handler:
        for reply in every_reply.values():
            model = reply.model or (ErrorEnvelope if reply.status >= 400 else None)
            if model is not None:
                document_response(model, reply.status)(func)
        setattr(func, DOC_ATTRIBUTE, OperationDoc(operation_id, tag, every_reply, request_headers))
        return func

    return decorator

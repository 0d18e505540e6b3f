"""The drain at shutdown: once the drain time is over, a request that has not begun any work
is refused with 503 and `Retry-After`; a request that has begun finishes, so nothing is
committed behind an error its client sees."""

from __future__ import annotations

import contextvars

from ..errors import ServiceUnavailable

SHUTTING_DOWN = "The service is shutting down"
_began_work: contextvars.ContextVar[bool] = contextvars.ContextVar("began_work", default=False)


class WorkGate:
    def __init__(self, retry_after_seconds: int) -> None:
        self.retry_after = retry_after_seconds
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def admit(self) -> None:
        """Let the current request (task) begin a unit of work, or refuse it."""
        if self.closed and not _began_work.get():
            raise self.refusal()
        _began_work.set(True)

    def began_work(self) -> bool:
        return _began_work.get()

    def mark_began(self) -> None:
        _began_work.set(True)

    def refusal(self) -> ServiceUnavailable:
        return ServiceUnavailable.retry_in(self.retry_after, SHUTTING_DOWN)

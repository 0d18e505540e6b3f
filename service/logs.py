"""Logging: every line a request produces carries its request id, and none is written on the
event loop: records are queued, then formatted and written by one listener thread."""

from __future__ import annotations

import atexit
import logging
import queue
from logging.handlers import QueueHandler, QueueListener

from .request_ids import request_id_for_logs

FORMAT = "%(asctime)s %(levelname)s %(name)s pid=%(process)d [%(request_id)s] %(message)s"
LOGGERS = ("roster", "quart.app", "quart.serving")

_records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
_listener: QueueListener | None = None


class RequestIdFilter(logging.Filter):
    """Runs where the record is made, so it sees that request's id."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_for_logs()
        return True


class _Enqueue(QueueHandler):
    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record  # formatted by the listener thread, off the event loop


def configure_logging(level: str) -> None:
    global _listener
    output = logging.StreamHandler()
    output.setFormatter(logging.Formatter(FORMAT))
    if _listener is not None:
        _listener.stop()
    _listener = QueueListener(_records, output)
    _listener.start()
    handler = _Enqueue(_records)
    handler.addFilter(RequestIdFilter())
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


@atexit.register
def _flush() -> None:
    if _listener is not None:
        _listener.stop()

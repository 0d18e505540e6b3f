"""Logging: every line a request produces carries its request id, and none is written on the
event loop: records are queued, then formatted and written by one thread, a burst at a time.

`LOG_FORMAT=text` (default) or `json` (one object per line, docs/API.md §4). Roster logs
what it chooses, field by field: never a token, a password or an `Authorization` header.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import logging
import queue
import threading
from datetime import UTC, datetime
from logging.handlers import QueueHandler
from typing import Any, TextIO

import orjson

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s pid=%(process)d [%(request_id)s] %(message)s"
AUDIT_LOGGER = "roster.audit"
LOGGERS = ("roster", "quart.app", "quart.serving", "hypercorn.error", "alembic")
# A burst's lines are written together: the writer wakes once for them, not once a request.
GATHER_SECONDS = 0.05

_records: queue.SimpleQueue[logging.LogRecord | None] = queue.SimpleQueue()
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def log_request_id(request_id: str) -> None:
    """Lines logged from now on, in this request's context, carry `request_id`."""
    _request_id.set(request_id)


def current_log_request_id() -> str:
    return _request_id.get()


class RequestIdFilter(logging.Filter):
    """Runs where the record is made, so it sees that request's id."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


class TextFormatter(logging.Formatter):
    """One record, one line: what a record says is escaped where it is not printable (a path
    or a header a client chose may hold CR, LF or ESC), so that it can neither forge a line of
    its own nor reach the terminal that shows the log. A traceback keeps its lines, indented,
    so that none of them can pass for a record."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = printable(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        lines = super().formatException(ei).split("\n")
        return "\n".join("    " + printable(line) for line in lines)


def printable(text: str) -> str:
    """`text` with every character that is not printable written as its escape (`\\x1b`)."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def _escape(char: str) -> str:
    code = ord(char)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, pid, message, request_id, and the
    access line's fields (method, path, status, duration_ms, client_address, user_id)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="microseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        line.update(getattr(record, "access", {}))
        audited = getattr(record, "audit", None)
        if audited is not None:  # an audit event: every field of it, as §7 shows it
            line["audit_event"] = True
            line.update(audited)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class _Enqueue(QueueHandler):
    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record  # formatted by the writer thread, off the event loop


class _Lines(logging.StreamHandler[TextIO]):
    def emit_all(self, records: list[logging.LogRecord]) -> None:
        """`records`, formatted, in one write (a record that cannot be formatted is reported
        as logging reports it, and the rest are written)."""
        lines = []
        for record in records:
            try:
                lines.append(self.format(record) + self.terminator)
            except Exception:
                self.handleError(record)
        if not lines:
            return
        try:
            self.stream.write("".join(lines))
            self.flush()
        except Exception:
            self.handleError(records[0])


class _Writer:
    """The one thread that formats and writes records. The first record after a quiet spell
    wakes it; it lets the burst gather for GATHER_SECONDS (records queued meanwhile wake
    nothing) and writes the lot at once. Stopping writes what is queued, without the wait."""

    def __init__(self, output: _Lines) -> None:
        self._output = output
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="roster-log-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if not self._thread.is_alive():
            return  # a stop left queued would end the next writer at once
        self._stopping.set()
        _records.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            first = _records.get()  # asleep while nothing is logged
            self._stopping.wait(GATHER_SECONDS)
            batch = [first]
            with contextlib.suppress(queue.Empty):
                while True:
                    batch.append(_records.get_nowait())
            self._output.emit_all([record for record in batch if record is not None])
            if None in batch:
                return


_writer: _Writer | None = None


def configure_logging(level: str, log_format: str = "text") -> None:
    global _writer
    # What no line shows is not worked out for every record (the logging docs' "Optimization").
    logging.logThreads = logging.logMultiprocessing = False
    logging.logAsyncioTasks = False  # type: ignore[attr-defined,unused-ignore]  # 3.12+
    output = _Lines()
    output.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    if _writer is not None:
        _writer.stop()
    _writer = _Writer(output)
    _writer.start()
    handler = _Enqueue(_records)
    handler.addFilter(RequestIdFilter())
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    # Audit events are lines of their own for log shippers, in JSON (docs/API.md §7).
    logging.getLogger(AUDIT_LOGGER).setLevel(level if log_format == "json" else logging.WARNING)


@atexit.register
def _flush() -> None:
    if _writer is not None:
        _writer.stop()

"""Logging: every line a request produces carries its request id, and none is written on the
event loop: records are queued, then formatted and written by one thread, a batch at a time.

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
from time import strftime
from typing import Any, TextIO

import orjson

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s pid=%(process)d [%(request_id)s] %(message)s"
AUDIT_LOGGER = "roster.audit"
LOGGERS = ("roster", "quart.app", "quart.serving", "hypercorn.error", "alembic")
# Records; a flush's Event (set once what came before it is written); None, the writer's stop.
_Item = logging.LogRecord | threading.Event | None
_records: queue.SimpleQueue[_Item] = queue.SimpleQueue()
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
        self._stamp = (0, "")  # a second, and its time as text: one attribute, set at once

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """logging's default time (`2026-12-07 11:04:09,990`), its seconds made once a second:
        `localtime` and `strftime` for every line were most of a line's formatting."""
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        stamp = self._stamp
        if stamp[0] != second or not stamp[1]:
            stamp = self._stamp = (
                second,
                strftime(self.default_time_format, self.converter(second)),
            )
        return f"{stamp[1]},{int(record.msecs):03d}"  # logging's default_msec_format

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
    """The one thread that formats and writes records: every `batch_seconds` it writes what
    was queued meanwhile, at once. Queuing a record wakes nothing (on a busy server, a wake-up
    per line would cost a thread switch and a GIL hand-over each); with `batch_seconds` 0 it
    waits for each record instead. A flush or a stop writes what is queued at once."""

    def __init__(self, output: _Lines, batch_seconds: float) -> None:
        self._output = output
        self._batch_seconds = batch_seconds
        self._now = threading.Event()  # a flush or a stop: no more waiting for the batch
        self._thread = threading.Thread(target=self._run, name="roster-log-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def flush(self) -> None:
        """Return once every record queued before the call is written."""
        written = threading.Event()
        self._queue_now(written)
        while not written.wait(0.1):
            if not self._thread.is_alive():
                return  # stopped: nothing will be written, and nothing may hang on it

    def stop(self) -> None:
        if not self._thread.is_alive():
            return  # a stop left queued would end the next writer at once
        self._queue_now(None)
        self._thread.join()

    def _queue_now(self, item: _Item) -> None:
        _records.put(item)
        self._now.set()  # after the put: the writer that sees it set finds the item queued

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            self._output.emit_all([item for item in batch if isinstance(item, logging.LogRecord)])
            for item in batch:
                if isinstance(item, threading.Event):
                    item.set()
            if None in batch:
                return

    def _next_batch(self) -> list[_Item]:
        """What is queued `batch_seconds` from now (or at a flush or a stop); with 0, what is
        queued once there is something."""
        if not self._batch_seconds:
            batch = [_records.get()]
        else:
            batch = []
            if self._now.wait(self._batch_seconds):
                self._now.clear()
        with contextlib.suppress(queue.Empty):
            while True:
                batch.append(_records.get_nowait())
        return batch


_writer: _Writer | None = None


def configure_logging(level: str, log_format: str, batch_seconds: float) -> None:
    """Records at `level` and above, written as `log_format` by one thread, a batch every
    `batch_seconds` (0: each as soon as it can)."""
    global _writer
    # What no line shows is not worked out for every record (the logging docs' "Optimization").
    logging.logThreads = logging.logMultiprocessing = False
    logging.logAsyncioTasks = False  # type: ignore[attr-defined,unused-ignore]  # 3.12+
    output = _Lines()
    output.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    if _writer is not None:
        _writer.stop()
    _writer = _Writer(output, batch_seconds)
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


def flush_logs() -> None:
    """Return once every line logged so far is written."""
    if _writer is not None:
        _writer.flush()


@atexit.register
def _stop_writing() -> None:
    if _writer is not None:
        _writer.stop()

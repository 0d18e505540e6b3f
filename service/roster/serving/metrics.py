"""Prometheus metrics, shared by every worker process of a server (prometheus-client's
multiprocess mode): each process writes its samples to files in one directory, and a scrape
of any worker reads them all.

A request's samples and the database gauges are kept in the process and written to the files a
batch at a time, every METRICS_BATCH_SECONDS: three locked writes to a memory-mapped file per
request, and two per unit of work, were 3-4 % of a request's instructions. A scrape writes its
own worker's first.

The directory is `PROMETHEUS_MULTIPROC_DIR` when set; otherwise one per server, named after the
process that started the workers, made at start-up and removed when `roster serve` stops (or
swept away by the next server once that process is gone).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from .tasks import cancel_and_wait

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
LOGIN_OUTCOMES = (
    "success",
    "invalid_credentials",
    "account_disabled",
    "email_not_verified",
    "rate_limited",
)
RATE_LIMITS = ("email", "account", "address")
DB_KINDS = ("read", "write")
MAIL_EVENTS = ("queued", "sent", "failed", "given_up")  # roster_mail_<event>_total
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SHARED_ROOT = "roster-metrics"
UNMATCHED = "unmatched"  # the route label of requests no route matched (404, 405)
# A method label is one of these, or `other`: a client inventing methods must not invent series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"


class Metrics:
    """What Roster counts; this base counts nothing (METRICS_ENABLED=false)."""

    def route_seen(self, route: str, methods: Iterable[str]) -> None:
        """A route the app serves: its latency series exist from the start, at zero."""

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """A response sent."""

    def login(self, outcome: str) -> None:
        """A login attempt ended with `outcome`, one of LOGIN_OUTCOMES."""

    def rate_limited(self, limit: str) -> None:
        """A login attempt refused by `limit`, one of RATE_LIMITS."""

    def hash_waiting(self, change: int) -> None:
        """Hashes waiting for a thread went up or down by `change`."""

    def db_busy(self, kind: str, change: int) -> None:
        """Units of work of `kind` (read or write) running went up or down by `change`."""

    def db_capacity(self, kind: str, threads_or_connections: int) -> None:
        """How many units of work of `kind` can run at once."""

    def mail(self, event: str) -> None:
        """A message was queued, sent, failed an attempt or was given up (MAIL_EVENTS)."""

    def mail_oldest_unsent(self, seconds: float) -> None:
        """How long the oldest message not yet sent has waited (0: none waits)."""

    def audit_event(self, kind: str) -> None:
        """An audit event of type `kind` was written (its transaction committed)."""

    def start(self) -> None:
        """The event loop runs: batches are written from now on."""

    def write(self) -> None:
        """Write what is batched now (on the event loop: before a scrape)."""

    def exposition(self) -> bytes:
        return b""

    async def stop(self) -> None:
        """The process stops counting: what is batched is written first."""


class _Batch:
    """A series' requests since the last write: how many, their total time, and how many fell
    in each latency bucket (the last is +Inf)."""

    __slots__ = ("buckets", "count", "seconds")

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)


class PrometheusMetrics(Metrics):
    """Samples in files of `directory`, one set per process, summed by every scrape."""

    def __init__(self, directory: Path, batch_seconds: float = 1.0) -> None:
        self.directory = directory
        self._batch_seconds = batch_seconds
        self._writer: asyncio.Task[None] | None = None
        # Requests are observed on the event loop; units of work run on database threads.
        self._busy_lock = threading.Lock()
        self._busy_now = dict.fromkeys(DB_KINDS, 0)
        self._busy_written = dict.fromkeys(DB_KINDS, 0)
        # prometheus-client opens a sample file per kind of metric, in the directory the
        # environment names when it does: every kind is opened here, now, with this one.
        with _environment("PROMETHEUS_MULTIPROC_DIR", str(directory)):
            self._create()

    def _create(self) -> None:
        # The value class decides where samples go: files in the directory, per process.
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
        self._requests = Counter(
            "roster_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ("route", "method", "status"),
            registry=None,
        )
        self._latency = Histogram(
            "roster_http_request_duration_seconds",
            "Time from the start of a request to its response, by route template and method.",
            ("route", "method"),
            buckets=LATENCY_BUCKETS,
            registry=None,
        )
        self._logins = Counter(
            "roster_logins", "Login attempts, by outcome.", ("outcome",), registry=None
        )
        self._rate_limited = Counter(
            "roster_login_rate_limited",
            "Login attempts refused with 429, by the limit that refused them.",
            ("limit",),
            registry=None,
        )
        self._hash_queue = Gauge(
            "roster_password_hash_queue_depth",
            "Password hashes and verifications waiting for a hashing thread.",
            multiprocess_mode="livesum",
            registry=None,
        )
        self._db_in_use = Gauge(
            "roster_database_in_use",
            "Database units of work running (SQLite threads or PostgreSQL connections in use).",
            ("kind",),
            multiprocess_mode="livesum",
            registry=None,
        )
        self._db_capacity = Gauge(
            "roster_database_capacity",
            "Database threads (SQLite) or pooled connections (PostgreSQL) there are.",
            ("kind",),
            multiprocess_mode="livesum",
            registry=None,
        )
        self._mail = {
            event: Counter(
                f"roster_mail_{event}",
                f"Mail messages {event.replace('_', ' ')}"
                + (" (attempts)" if event == "failed" else "")
                + ".",
                registry=None,
            )
            for event in MAIL_EVENTS
        }
        self._mail_oldest = Gauge(
            "roster_mail_oldest_unsent_seconds",
            "Age of the oldest mail message not yet sent (0: none waits), as last seen.",
            multiprocess_mode="livemax",
            registry=None,
        )
        self._audit = Counter(
            "roster_audit_events",
            "Audit events written, by type.",
            ("type",),
            registry=None,
        )
        # Every series exists from the start, at zero (and every sample file is opened now).
        for outcome in LOGIN_OUTCOMES:
            self._logins.labels(outcome)
        for limit in RATE_LIMITS:
            self._rate_limited.labels(limit)
        # labels() takes a lock: the busy gauge moves twice a unit of work, its series are kept.
        self._db_busy = {kind: self._db_in_use.labels(kind) for kind in DB_KINDS}
        self._latency.labels(UNMATCHED, "GET")
        self._audit_series: dict[str, Counter] = {}
        # A request's two series, looked up once: prometheus-client's labels() takes a lock.
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._batches: dict[tuple[str, str, int], _Batch] = {}

    def route_seen(self, route: str, methods: Iterable[str]) -> None:
        for method in methods:
            self._latency.labels(route, method)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        if method not in METHODS:  # folded first: an invented method is no key of its own
            method = OTHER_METHOD
        batch = self._batches.get((route, method, status))
        if batch is None:
            batch = self._batches[route, method, status] = _Batch()
        batch.count += 1
        batch.seconds += seconds
        # The first bucket whose bound is at least `seconds` (`le`), as Histogram.observe finds.
        batch.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1

    def _series_of(self, route: str, method: str, status: int) -> tuple[Counter, Histogram]:
        series = self._series.get((route, method, status))
        if series is None:
            # A bounded set: routes are templates, methods are folded, statuses are few.
            series = (
                self._requests.labels(route, method, str(status)),
                self._latency.labels(route, method),
            )
            self._series[route, method, status] = series
        return series

    def login(self, outcome: str) -> None:
        self._logins.labels(outcome).inc()

    def rate_limited(self, limit: str) -> None:
        self._rate_limited.labels(limit).inc()

    def hash_waiting(self, change: int) -> None:
        self._hash_queue.inc(change)

    def db_busy(self, kind: str, change: int) -> None:
        with self._busy_lock:
            self._busy_now[kind] += change

    def db_capacity(self, kind: str, threads_or_connections: int) -> None:
        self._db_capacity.labels(kind).set(threads_or_connections)

    def mail(self, event: str) -> None:
        self._mail[event].inc()

    def mail_oldest_unsent(self, seconds: float) -> None:
        self._mail_oldest.set(seconds)

    def audit_event(self, kind: str) -> None:
        counted = self._audit_series.get(kind)
        if counted is None:  # labels() takes a lock: each type's series is looked up once
            counted = self._audit_series[kind] = self._audit.labels(kind)
        counted.inc()

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_forever())

    async def _write_forever(self) -> None:
        while True:
            await asyncio.sleep(self._batch_seconds)
            self.write()

    def write(self) -> None:
        batches, self._batches = self._batches, {}
        for (route, method, status), batch in batches.items():
            requests, latency = self._series_of(route, method, status)
            requests.inc(batch.count)
            # Histogram.observe, for a batch: its sum and each bucket once (prometheus-client
            # has no call that adds many observations).
            latency._sum.inc(batch.seconds)
            for bucket, count in zip(latency._buckets, batch.buckets, strict=True):
                if count:
                    bucket.inc(count)
        with self._busy_lock:
            busy = dict(self._busy_now)
        for kind, running in busy.items():
            if running != self._busy_written[kind]:
                self._db_busy[kind].set(running)
                self._busy_written[kind] = running

    def exposition(self) -> bytes:
        return shared_exposition(self.directory)

    async def stop(self) -> None:
        """This process's batch is written; then its live gauges leave the sums, and its
        counters stay (totals never drop)."""
        await cancel_and_wait(self._writer)
        self.write()
        with contextlib.suppress(OSError):
            mark_process_dead(os.getpid(), str(self.directory))  # type: ignore[no-untyped-call]


def shared_exposition(directory: Path) -> bytes:
    """Every process's samples in `directory`, summed, as a scrape shows them."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return generate_latest(registry)


@contextlib.contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before


def metrics_directory(configured: str | None, server_pid: int | None = None) -> Path:
    """The directory this server's processes share: the configured one, or one per server
    (`server_pid`: the process that starts the workers; by default, this one's parent)."""
    if configured:
        directory = Path(configured)
    else:
        root = Path(tempfile.gettempdir()) / _SHARED_ROOT
        _sweep_stale(root)
        directory = root / _process_key(server_pid or os.getppid())
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def remove_metrics_directory(directory: Path) -> None:
    """The server is done with it: gone, and its parent too when no other server uses it."""
    shutil.rmtree(directory, ignore_errors=True)
    with contextlib.suppress(OSError):
        directory.parent.rmdir()


def _process_key(pid: int) -> str:
    """A process's pid and start time: a pid alone can be reused by a later server."""
    return f"{pid}-{_start_time(pid)}"


def _start_time(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "0"
    return stat[stat.rfind(")") + 2 :].split()[19]  # field 22: start time in clock ticks


def _sweep_stale(root: Path) -> None:
    """Remove the directories of servers that are gone (their process is not running)."""
    if not root.is_dir():
        return
    for entry in root.iterdir():
        pid, _, _started = entry.name.partition("-")
        if pid.isdigit() and entry.name != _process_key(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)

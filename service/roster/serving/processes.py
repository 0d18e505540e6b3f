"""`roster serve`: hypercorn with production settings, worker processes, and a drain at shutdown.

The parent process binds the sockets and starts the workers (as `hypercorn --workers N` does);
on SIGTERM or SIGINT it asks them to stop. A worker then stops accepting connections, lets the
requests it has finish for `DRAIN_SECONDS`, answers 503 to those that have not begun any work
by then, and exits; hypercorn's graceful timeout (the drain plus a margin) is the hard stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
import tomllib
from collections.abc import Mapping
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import h11
from hypercorn import protocol as hypercorn_protocol
from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config, Sockets
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.utils import wrap_app

from ..app import RUNTIME, create_app
from ..runtime import Runtime
from ..settings import Settings

APPLICATION = "roster.asgi:app"
LISTEN_BACKLOG = 2048  # hypercorn's default of 100 refuses bursts of new connections
DRAIN_MARGIN_SECONDS = 5.0  # after the drain: for started work to finish and responses to go
POLL_SECONDS = 0.1
logger = logging.getLogger("roster.serve")


def hypercorn_config(
    settings: Settings,
    config_file: Path | None = None,
    bind: str | None = None,
    workers: int | None = None,
) -> Config:
    """Roster's production settings, then the file's (TLS and the rest), then the flags."""
    config = Config()
    config.application_path = APPLICATION
    config.bind = ["127.0.0.1:8000"]
    config.workers = 1
    config.backlog = LISTEN_BACKLOG
    # Measured (README, Performance): uvloop's few % more throughput come with a long tail.
    config.worker_class = "asyncio"
    # hypercorn closes a connection idle this long; the time to send a request's headers counts
    # as idle, so a slow client (slowloris) holds a connection at most this long.
    config.keep_alive_timeout = settings.keep_alive_seconds
    config.graceful_timeout = settings.drain_seconds + DRAIN_MARGIN_SECONDS
    config.accesslog = None  # Roster writes its own access line, with the request id
    config.errorlog = logging.getLogger("hypercorn.error")  # through Roster's log format
    if config_file is not None:
        for key, value in _read_toml(config_file).items():
            setattr(config, key, value)
    if bind is not None:
        config.bind = [bind]
    if workers is not None:
        config.workers = workers
    config.workers = max(config.workers, 1)
    return config


def _read_toml(path: Path) -> Mapping[str, Any]:
    with path.open("rb") as file:
        return tomllib.load(file)


def serve(config: Config, settings: Settings) -> int:
    """Run the workers until SIGTERM or SIGINT; the exit code of the first that failed, or 0."""
    metrics_dir = _shared_metrics_dir(settings)
    sockets = config.create_sockets()
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    for name in ("SIGTERM", "SIGINT"):
        signal.signal(getattr(signal, name), lambda *_: stop.set())
    workers = [_start_worker(context, config, sockets, stop) for _ in range(config.workers)]
    exit_code = 0
    try:
        exit_code = _supervise(workers, context, config, sockets, stop)
    finally:
        stop.set()
        _join(workers, config.graceful_timeout + DRAIN_MARGIN_SECONDS)
        for sock in [*sockets.secure_sockets, *sockets.insecure_sockets]:
            sock.close()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return exit_code


def _shared_metrics_dir(settings: Settings) -> Path | None:
    """A fresh metrics directory for this server's workers, unless one is configured."""
    if not settings.metrics_enabled or settings.prometheus_multiproc_dir:
        return None
    directory = Path(tempfile.mkdtemp(prefix="roster-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)  # the workers read it at start
    return directory


def _start_worker(context: Any, config: Config, sockets: Sockets, stop: Event) -> BaseProcess:
    process: BaseProcess = context.Process(
        target=_worker, kwargs={"config": config, "sockets": sockets, "stop": stop}
    )
    process.start()
    return process


def _supervise(
    workers: list[BaseProcess], context: Any, config: Config, sockets: Sockets, stop: Event
) -> int:
    """Wait; replace a worker that exited cleanly (hypercorn's `max_requests`), stop on a crash."""
    while not stop.is_set():
        wait([worker.sentinel for worker in workers], timeout=POLL_SECONDS * 5)
        for worker in [worker for worker in workers if worker.exitcode is not None]:
            workers.remove(worker)
            if worker.exitcode != 0 and not stop.is_set():
                logger.error("worker %s exited with %s: stopping", worker.pid, worker.exitcode)
                return worker.exitcode or 1
            if not stop.is_set():
                workers.append(_start_worker(context, config, sockets, stop))
    return 0


def _join(workers: list[BaseProcess], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for worker in workers:
        worker.join(max(deadline - time.monotonic(), 0))
        if worker.exitcode is None:
            worker.kill()
            worker.join()


# --- a worker process --------------------------------------------------------------------------


def _worker(config: Config, sockets: Sockets, stop: Event) -> None:
    # A Ctrl-C reaches the whole process group: the parent alone decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settings = Settings.from_env()
    app = create_app(settings)
    _refuse_oversized_bodies_before_continue(settings.max_content_length)
    asyncio.run(_serve(app, config, sockets, stop, settings.drain_seconds))


async def _serve(
    app: Any, config: Config, sockets: Sockets, stop: Event, drain_seconds: float
) -> None:
    # A SIGTERM sent to the worker itself (systemd's default KillMode signals every process)
    # drains it too, instead of killing it on the spot.
    signalled = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, signalled.set)

    async def shutdown_requested() -> None:
        # The parent's stop is a multiprocessing Event: polled, as hypercorn polls it.
        while not stop.is_set() and not signalled.is_set():  # noqa: ASYNC110
            await asyncio.sleep(POLL_SECONDS)
        runtime: Runtime | None = app.extensions.get(RUNTIME)
        if runtime is not None:
            runtime.drain(drain_seconds)

    await worker_serve(
        wrap_app(app, config.wsgi_max_body_size, "asgi"),
        config,
        sockets=sockets,
        shutdown_trigger=shutdown_requested,
    )


def _refuse_oversized_bodies_before_continue(limit: int) -> None:
    """hypercorn answers `Expect: 100-continue` as soon as it has the headers, before the app
    can look at them, so a client told to send an oversized body uploads all of it only to
    get 413. In Roster's workers, such a request gets no 100: the app's 413 comes at once."""

    class RefusesOversizedBodies(H11Protocol):
        async def _create_stream(self, request: h11.Request) -> None:
            if _declared_length(request) > limit and isinstance(self.connection, h11.Connection):
                self.connection.client_is_waiting_for_100_continue = False
            await super()._create_stream(request)

    # Where hypercorn's ProtocolWrapper looks the HTTP/1.1 protocol up.
    hypercorn_protocol.H11Protocol = RefusesOversizedBodies  # type: ignore[attr-defined]


def _declared_length(request: h11.Request) -> int:
    for name, value in request.headers:
        if name == b"content-length":
            with contextlib.suppress(ValueError):
                return int(value)
    return 0

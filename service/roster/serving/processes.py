"""`roster serve`: hypercorn with production settings, worker processes, and a drain at shutdown.

The parent process binds the sockets (one per address, shared by every worker: a port another
server holds is refused) and starts the workers, which stop at once if the parent dies. On
SIGTERM or SIGINT it stops listening and asks them to stop. A worker then stops accepting
connections, lets the requests it has finish for `DRAIN_SECONDS`, answers 503 to those that
have not begun any work by then, and exits; hypercorn's graceful timeout (the drain plus a
margin) is the hard stop.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
import logging
import multiprocessing
import os
import signal
import time
import tomllib
from collections.abc import Mapping
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config, Sockets
from hypercorn.utils import wrap_app

from ..app import RUNTIME, create_app
from ..runtime import Runtime
from ..settings import Settings
from . import protocol
from .metrics import metrics_directory, remove_metrics_directory

APPLICATION = "roster.asgi:app"
LISTEN_BACKLOG = 2048  # hypercorn's default of 100 refuses bursts of new connections
DRAIN_MARGIN_SECONDS = 5.0  # after the drain: for started work to finish and responses to go
POLL_SECONDS = 0.1
PR_SET_PDEATHSIG = 1  # prctl(2): a signal for this process when its parent dies
logger = logging.getLogger("roster.serve")


class CannotListen(OSError):
    """An address to listen on is taken, or cannot be bound."""


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
    # Longer than clients keep idle connections (httpx: 5 s), so that the server never closes
    # one under a request that is on its way; a request head has HEADERS_TIMEOUT_SECONDS.
    config.keep_alive_timeout = settings.keep_alive_seconds
    config.include_server_header = False  # no advertisement of the server software
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


def serve(config: Config, settings: Settings, sockets: Sockets) -> int:
    """Run the workers on `sockets` (from `listen`) until SIGTERM or SIGINT; the exit code of
    the first that failed, or 0."""
    metrics_dir = _shared_metrics_dir(settings)
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
        # No longer listening here: once the workers close theirs too, a new connection is
        # refused at once instead of waiting in the backlog for a worker that will not take it.
        for sock in [*sockets.secure_sockets, *sockets.insecure_sockets]:
            sock.close()
        _join(workers, config.graceful_timeout + DRAIN_MARGIN_SECONDS)
        if metrics_dir is not None:
            remove_metrics_directory(metrics_dir)
    return exit_code


def listen(config: Config) -> Sockets:
    """The listening sockets, one per address, that every worker shares. Without SO_REUSEPORT
    (hypercorn sets it for several workers), so a port another server holds is refused."""
    workers, config.workers = config.workers, 1
    try:
        return config.create_sockets()
    except OSError as error:
        taken = "already in use" if error.errno == errno.EADDRINUSE else error.strerror
        raise CannotListen(f"cannot listen on {', '.join(config.bind)}: {taken}") from None
    finally:
        config.workers = workers


def _shared_metrics_dir(settings: Settings) -> Path | None:
    """This server's metrics directory (its workers find the same one), unless configured."""
    if not settings.metrics_enabled or settings.prometheus_multiproc_dir:
        return None
    return metrics_directory(None, server_pid=os.getpid())


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
    parent = os.getppid()
    _stop_with_parent(parent)
    # A Ctrl-C reaches the whole process group: the parent alone decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settings = Settings.from_env()
    app = create_app(settings)
    protocol.install(settings.max_content_length, settings.headers_timeout_seconds)
    asyncio.run(_serve(app, config, sockets, stop, settings.drain_seconds, parent))


def _stop_with_parent(parent: int) -> None:
    """SIGTERM (the drain) for this worker when the parent dies, however it dies (SIGKILL, the
    OOM killer): a worker never serves on without its server. Linux's prctl; elsewhere, and
    for a parent that died before this call, the worker's poll sees its parent change."""
    libc = ctypes.util.find_library("c")
    if libc is None:
        return
    prctl = ctypes.CDLL(libc, use_errno=True).prctl
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


async def _serve(
    app: Any, config: Config, sockets: Sockets, stop: Event, drain_seconds: float, parent: int
) -> None:
    # A SIGTERM sent to the worker itself (systemd's default KillMode signals every process)
    # drains it too, instead of killing it on the spot.
    signalled = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, signalled.set)

    async def shutdown_requested() -> None:
        # The parent's stop is a multiprocessing Event: polled, as hypercorn polls it.
        while not (stop.is_set() or signalled.is_set() or os.getppid() != parent):  # noqa: ASYNC110
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

"""A real server as a subprocess on a free 127.0.0.1 port: Roster under `roster serve` or
hypercorn (or any ASGI app under hypercorn), for Roster's own tests, its pytest plugin and its
benchmark alike.

`start` launches the command in a process group of its own, its stdout and stderr in a log
file, and waits (bounded) until every worker has said it is running and `/health` answers.
`stop` sends SIGTERM to the parent (which stops its workers gracefully), waits (bounded), and
kills the whole group only as a last resort, stragglers included.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..settings import Settings

HOST = "127.0.0.1"
BACKLOG = 2048  # as `roster serve`: hypercorn's default of 100 refuses bursts of connections
# As `roster serve`: longer than clients keep idle connections (httpx: 5 s, hypercorn's default).
KEEP_ALIVE = Settings.model_fields["keep_alive_seconds"].default
STARTUP_TIMEOUT = 60.0
SHUTDOWN_TIMEOUT = 15.0
_RUNNING = re.compile(r"Running on http://")


class ServerFailed(RuntimeError):
    """The server did not start, or died while it was needed."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def hypercorn_command(
    port: int,
    *,
    app: str = "roster.asgi:app",
    workers: int = 1,
    worker_class: str = "asyncio",
    python: str | Path = sys.executable,
) -> list[str]:
    """`python -m hypercorn APP`, as the README's plain-hypercorn deployment runs it."""
    return [
        str(python), "-m", "hypercorn", app,
        "--bind", f"{HOST}:{port}",
        "--workers", str(workers),
        "--worker-class", worker_class,
        "--backlog", str(BACKLOG),
        "--keep-alive", str(KEEP_ALIVE),
    ]  # fmt: skip


def roster_serve_command(
    port: int, *, workers: int = 1, roster: str | Path | None = None
) -> list[str]:
    """`roster serve`: migrates, then serves with Roster's production settings."""
    executable = roster or Path(sys.executable).parent / "roster"
    return [
        str(executable),
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


@dataclass
class Server:
    """A running server: where it listens, its process, and the file its output goes to."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    workers: int

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        """Everything the server wrote so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    async def logged(self, text: str, seconds: float = 5.0) -> bool:
        """Whether `text` shows up in the log within `seconds` (log lines are written by a
        thread, possibly after the client already has its response)."""
        deadline = time.monotonic() + seconds
        while text not in self.log():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    def check_alive(self, during: str) -> None:
        """Raise if the server is gone: figures measured against a dead server mean nothing."""
        code = self.process.poll()
        if code is not None:
            hint = " (it exits 0 on SIGTERM: did another process stop it?)" if code == 0 else ""
            raise ServerFailed(f"server exited with {code} during {during}{hint}")

    def terminate(self) -> None:
        """SIGTERM to the parent only: it tells its workers to shut down gracefully."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = SHUTDOWN_TIMEOUT) -> int:
        """The exit code, waiting at most `timeout` seconds (raises TimeoutExpired)."""
        return self.process.wait(timeout=timeout)

    async def wait_async(self, seconds: float = SHUTDOWN_TIMEOUT) -> int:
        """`wait()` for async code: the event loop runs meanwhile."""
        return await asyncio.to_thread(self.wait, seconds)

    def kill(self) -> None:
        """Last resort: SIGKILL the process group (the parent and every worker)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def start(
    command: Sequence[str],
    port: int,
    log_path: Path,
    *,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = STARTUP_TIMEOUT,
) -> Server:
    """Launch `command` (serving on `port`) and wait until it is ready; `ServerFailed` if not."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 (the caller's own command line)
            list(command),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a group of its own, for the last-resort kill
        )
    server = Server(port, process, log_path, workers)
    try:
        _wait_until_ready(server, timeout)
    except BaseException:
        stop(server)
        raise
    return server


def stop(server: Server, timeout: float = SHUTDOWN_TIMEOUT) -> None:
    """SIGTERM, a bounded wait, then SIGKILL of the group; no worker is left behind."""
    server.terminate()
    try:
        server.wait(timeout)
    except subprocess.TimeoutExpired:
        server.kill()
    deadline = time.monotonic() + timeout
    while _group_alive(server.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _group_alive(server.pid):
        server.kill()


@contextlib.contextmanager
def running(
    command: Sequence[str],
    port: int,
    log_path: Path,
    *,
    shutdown_timeout: float = SHUTDOWN_TIMEOUT,
    **options: object,
) -> Iterator[Server]:
    """`start` … `stop` around a block (which may stop the server itself)."""
    server = start(command, port, log_path, **options)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        stop(server, shutdown_timeout)


def _wait_until_ready(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerFailed(
                f"server exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        if len(_RUNNING.findall(server.log())) >= server.workers and _healthy(server):
            return
        time.sleep(0.05)
    raise ServerFailed(f"server not ready within {timeout} s:\n{server.log_tail()}")


def _healthy(server: Server) -> bool:
    try:
        with urllib.request.urlopen(f"{server.base_url}/health", timeout=2) as response:  # noqa: S310 (our own loopback URL)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _group_alive(group: int) -> bool:
    """Whether a live (not zombie) process is still in the process group."""
    proc = Path("/proc")
    if not proc.is_dir():
        return False
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, _parent, pgrp = stat[stat.rfind(")") + 2 :].split()[:3]
        if int(pgrp) == group and state not in {"Z", "X"}:
            return True
    return False

"""A real hypercorn serving `service.asgi:app` on 127.0.0.1, for end-to-end tests.

Not a test module. `run_server()` starts hypercorn as a subprocess on a free port with a migrated
database and cheap password hashing, waits (bounded) until every worker has started and
`/health` answers, and on exit sends SIGTERM to the hypercorn parent, waits (bounded) and kills
the whole process group only as a last resort. hypercorn's stderr (its log and the app's log) is
collected in a file for assertions and debugging. `register()` and `login()` are the client
helpers of `tests.helpers`, over httpx.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from . import pg
from .helpers import PASSWORD, Json, unique_email

HOST = "127.0.0.1"
REPOSITORY = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 15.0
FAST_HASHING_ENV = {"ARGON2_MEMORY_KIB": "1024", "ARGON2_TIME_COST": "1"}
_RUNNING = re.compile(r"Running on http://")


class TemplateLike(Protocol):
    """What `run_server` needs of conftest's `Template` (a migrated database)."""

    @property
    def url(self) -> str: ...

    @property
    def path(self) -> Path | None: ...


@dataclass
class Server:
    """A running hypercorn: where it listens, its process, and where its stderr goes."""

    base_url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    workers: int
    database_url: str

    def log(self) -> str:
        """Everything hypercorn and the app wrote to stderr so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    async def logged(self, text: str, seconds: float = 5.0) -> bool:
        """Whether `text` shows up in the log within `seconds`: log lines reach the file from
        a logging thread, possibly after the client already has its response."""
        deadline = asyncio.get_running_loop().time() + seconds
        while text not in self.log():
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    def terminate(self) -> None:
        """SIGTERM to the hypercorn parent only: it tells its workers to shut down gracefully."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = SHUTDOWN_TIMEOUT) -> int:
        """The exit code, waiting at most `timeout` seconds (raises TimeoutExpired)."""
        return self.process.wait(timeout=timeout)

    async def wait_async(self, seconds: float = SHUTDOWN_TIMEOUT) -> int:
        """`wait()` for async tests: the event loop runs meanwhile."""
        return await asyncio.to_thread(self.wait, seconds)

    def kill(self) -> None:
        """Last resort: SIGKILL the process group (hypercorn and the workers it spawned)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def fresh_database_url(template: TemplateLike, directory: Path) -> str:
    """A migrated, empty database for a longer-lived server (e.g. one per module).

    SQLite: a copy of the template file in `directory`. PostgreSQL: the template database,
    emptied (each test's `database_url` fixture empties it again before its own use).
    Call it where no event loop runs (a sync fixture).
    """
    if template.path is None:
        asyncio.run(pg.truncate_all(template.url))
        return template.url
    path = directory / "roster.db"
    shutil.copyfile(template.path, path)
    return f"sqlite+aiosqlite:///{path}"


Launcher = Callable[[int, int], list[str]]  # (port, workers) -> the command line


def hypercorn(python: str = sys.executable, worker_class: str = "asyncio") -> Launcher:
    """`python -m hypercorn service.asgi:app`, as the README's deployment runs it."""

    def command(port: int, workers: int) -> list[str]:
        return [
            python,
            "-m",
            "hypercorn",
            "service.asgi:app",
            "--bind",
            f"{HOST}:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            worker_class,
            "--backlog",
            "2048",
        ]

    return command


def roster_serve(roster: str | Path = Path(sys.executable).parent / "roster") -> Launcher:
    """`roster serve`: migrates, then serves with Roster's production settings."""

    def command(port: int, workers: int) -> list[str]:
        return [
            str(roster),
            "serve",
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]

    return command


@contextlib.contextmanager
def run_server(
    database_url: str,
    *,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    log_dir: Path | None = None,
    launcher: Launcher | None = None,
    cwd: Path = REPOSITORY,
    startup_timeout: float = STARTUP_TIMEOUT,
    shutdown_timeout: float = SHUTDOWN_TIMEOUT,
) -> Iterator[Server]:
    """Serve Roster on a free port of 127.0.0.1 until the block ends: `hypercorn()` by default,
    or `roster_serve()`, from `cwd`.

    `env` adds to or overrides the server's environment (e.g. heavier `ARGON2_*`, `LOG_LEVEL`).
    The block may stop the server itself (`server.terminate()`, `server.wait()`); if it did not,
    it is stopped here.
    """
    port = free_port()
    handle, name = tempfile.mkstemp(prefix="hypercorn-", suffix=".log", dir=log_dir)
    log_path = Path(name)
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        **FAST_HASHING_ENV,
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    command = (launcher or hypercorn())(port, workers)
    with os.fdopen(handle, "wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            start_new_session=True,  # its own process group, for the last-resort kill
        )
    server = Server(f"http://{HOST}:{port}", port, process, log_path, workers, database_url)
    try:
        _wait_until_ready(server, startup_timeout)
        yield server
    finally:
        _stop(server, shutdown_timeout)
        if log_dir is None:
            log_path.unlink(missing_ok=True)


def _wait_until_ready(server: Server, timeout: float) -> None:
    """Every worker logged that it is running and /health answers 200; bounded by `timeout`."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(
                    f"hypercorn exited with {server.process.returncode}:\n{server.log()}"
                )
            if len(_RUNNING.findall(server.log())) >= server.workers:
                with contextlib.suppress(httpx.TransportError):
                    if client.get(f"{server.base_url}/health").status_code == 200:
                        return
            time.sleep(0.05)
    raise RuntimeError(f"hypercorn not ready within {timeout} s:\n{server.log()}")


def _stop(server: Server, timeout: float) -> None:
    if server.process.poll() is None:
        server.terminate()
        try:
            server.wait(timeout)
        except subprocess.TimeoutExpired:
            server.kill()


# --- raw HTTP/1.1, for what httpx will not send -------------------------------------------------

RAW_IO_TIMEOUT = 15.0


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


async def read_response(reader: asyncio.StreamReader) -> RawResponse:
    """One HTTP/1.1 response (framed by Content-Length, as hypercorn frames ours)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), RAW_IO_TIMEOUT)
    status_line, *lines = head.decode("latin-1").split("\r\n")[:-2]
    headers = [(key.strip(), value.strip()) for key, _, value in (h.partition(":") for h in lines)]
    response = RawResponse(int(status_line.split(" ")[1]), headers, b"")
    length = response.header("Content-Length")
    if length and response.status not in (100, 204, 304):
        response.body = await asyncio.wait_for(reader.readexactly(int(length[0])), RAW_IO_TIMEOUT)
    return response


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await asyncio.wait_for(writer.wait_closed(), RAW_IO_TIMEOUT)


async def raw_exchange(server: Server, request: bytes) -> RawResponse:
    reader, writer = await asyncio.open_connection(HOST, server.port)
    try:
        writer.write(request)
        await writer.drain()
        return await read_response(reader)
    finally:
        await close(writer)


# --- talking to it over HTTP -------------------------------------------------------------------


async def register(http: httpx.AsyncClient, name: str = "Alice", email: str | None = None) -> Json:
    """Register over the wire; returns the user representation (`data`)."""
    body = {"name": name, "email": email or unique_email(), "password": PASSWORD}
    response = await http.post("/api/users", json=body)
    assert response.status_code == 201, response.text
    user: Json = response.json()["data"]
    return user


async def login(http: httpx.AsyncClient, email: str) -> str:
    response = await http.post("/api/tokens", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    token: str = response.json()["data"]["token"]
    return token

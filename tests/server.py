"""Real servers for the end-to-end tests: `run_server()` serves Roster on a database of the
backend under test through the shared harness (`roster.testing.server`), with cheap password
hashing; raw HTTP/1.1 helpers for what httpx will not send; `register()` and `login()` over
httpx. Not a test module."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
from sqlalchemy.engine import make_url

from roster.testing.server import (
    HOST,
    Server,
    free_port,
    hypercorn_command,
    roster_serve_command,
    running,
)

from . import pg
from .helpers import PASSWORD, Json, unique_email

__all__ = ["HOST", "Server", "free_port"]

REPOSITORY = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 15.0
FAST_HASHING_ENV = {"ARGON2_MEMORY_KIB": "1024", "ARGON2_TIME_COST": "1"}
# `make pytest-pgbouncer`: servers reach PostgreSQL through PgBouncer (host:port), with this
# many workers where a test runs several.
PGBOUNCER = os.environ.get("ROSTER_TEST_PGBOUNCER")
WORKERS = int(os.environ.get("ROSTER_TEST_WORKERS", "2"))
Launcher = Callable[[int, int], list[str]]  # (port, workers) -> the command line


class TemplateLike(Protocol):
    """What `run_server` needs of conftest's `Template` (a migrated database)."""

    @property
    def url(self) -> str: ...

    @property
    def path(self) -> Path | None: ...


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


def through_pgbouncer(database_url: str) -> str:
    """The server's URL for a test database: through PgBouncer when the run asks for it."""
    url = make_url(database_url)
    if PGBOUNCER is None or url.get_backend_name() != "postgresql":
        return database_url
    host, _, port = PGBOUNCER.partition(":")
    return url.set(host=host, port=int(port)).render_as_string(hide_password=False)


def hypercorn(python: str = sys.executable, worker_class: str = "asyncio") -> Launcher:
    """`python -m hypercorn roster.asgi:app`, as the README's plain deployment runs it."""

    def command(port: int, workers: int) -> list[str]:
        return hypercorn_command(port, workers=workers, worker_class=worker_class, python=python)

    return command


def roster_serve(roster: str | Path | None = None) -> Launcher:
    """`roster serve`: migrates, then serves with Roster's production settings."""

    def command(port: int, workers: int) -> list[str]:
        return roster_serve_command(port, workers=workers, roster=roster)

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
    """Serve Roster on `database_url` from a free port of 127.0.0.1 until the block ends:
    `hypercorn()` by default, or `roster_serve()`, from `cwd`, with cheap password hashing.

    `env` adds to or overrides the server's environment (e.g. heavier `ARGON2_*`, `LOG_LEVEL`).
    The block may stop the server itself (`server.terminate()`, `server.wait()`).
    """
    port = free_port()
    handle, name = tempfile.mkstemp(prefix="server-", suffix=".log", dir=log_dir)
    os.close(handle)
    scratch = tempfile.mkdtemp(prefix="server-tmp-", dir=log_dir)  # its metrics, and the rest
    environment = {
        **os.environ,
        "DATABASE_URL": through_pgbouncer(database_url),
        **FAST_HASHING_ENV,
        "PYTHONUNBUFFERED": "1",
        "TMPDIR": scratch,
        **({"DB_PGBOUNCER": "true"} if PGBOUNCER else {}),
        **(env or {}),
    }
    command = (launcher or hypercorn())(port, workers)
    try:
        with running(
            command,
            port,
            Path(name),
            workers=workers,
            env=environment,
            cwd=cwd,
            timeout=startup_timeout,
            shutdown_timeout=shutdown_timeout,
        ) as server:
            yield server
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if log_dir is None:
            Path(name).unlink(missing_ok=True)


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

"""Helpers shared by the tests: register, log in, make an admin, send requests, check envelopes
and errors, and reach the app's runtime (its database and password hasher)."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Literal

from argon2 import PasswordHasher
from quart import Quart
from quart.typing import TestClientProtocol
from quart.wrappers import Response
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from roster.app import RUNTIME, create_app
from roster.db.connect import create_engine
from roster.runtime import Runtime
from roster.settings import Settings

Client = TestClientProtocol  # the name tests use; a Test* name would be collected by pytest
PASSWORD = "correct-horse-battery"
Json = dict[str, Any]
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


# --- users and tokens ------------------------------------------------------------------------


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(
    client: Client,
    name: str = "Alice",
    email: str | None = None,
    password: str = PASSWORD,
    headers: dict[str, str] | None = None,
) -> Json:
    """Register through the API; returns the user representation (`data`)."""
    body = {"name": name, "email": email or unique_email(), "password": password}
    response = await client.post("/api/users", json=body, headers=headers or {})
    assert response.status_code == 201, await response.get_data(as_text=True)
    data: Json = (await response.get_json())["data"]
    return data


async def login(client: Client, email: str, password: str = PASSWORD) -> str:
    response = await client.post("/api/tokens", json={"email": email, "password": password})
    assert response.status_code == 201, await response.get_data(as_text=True)
    token: str = (await response.get_json())["data"]["token"]
    return token


async def total_users(client: Client, token: str) -> int:
    """`meta.total` of GET /api/users: how many users there are."""
    response = await client.get("/api/users?per_page=1", headers=bearer(token))
    assert response.status_code == 200
    total: int = (await body_of(response))["meta"]["total"]
    return total


# --- users as the API shows them ----------------------------------------------------------

FIELDS = {
    "id",
    "name",
    "email",
    "email_verified",
    "role",
    "status",
    "created_at",
    "updated_at",
}
NEW_PASSWORD = "another-long-secret"


async def fetch(client: Client, token: str, user_id: int) -> Json:
    """GET /api/users/{id}: the representation (`data`)."""
    response = await client.get(f"/api/users/{user_id}", headers=bearer(token))
    assert response.status_code == 200, await response.get_data(as_text=True)
    data: Json = (await body_of(response))["data"]
    return data


async def profile_status(client: Client, token: str) -> int:
    return (await client.get("/api/profile", headers=bearer(token))).status_code


async def login_status(client: Client, email: str, password: str) -> int:
    response = await client.post("/api/tokens", json={"email": email, "password": password})
    return response.status_code


def assert_representation(user: Json) -> None:
    """A user as docs/API.md §3 shows one: exactly these fields, of these types."""
    assert set(user) == FIELDS
    assert isinstance(user["id"], int)
    assert not isinstance(user["id"], bool)
    assert user["id"] >= 1
    assert user["role"] in {"user", "admin"}
    assert isinstance(user["email_verified"], bool)
    parse_timestamp(user["created_at"])
    parse_timestamp(user["updated_at"])


# --- requests and responses ------------------------------------------------------------------


async def send(
    client: Client,
    method: str,
    path: str,
    body: Json | None = None,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
) -> Response:
    """A request with a JSON body only when there is one (`json=None` would send `null`), or
    raw bytes (`data`)."""
    kwargs: dict[str, Any] = {"method": method, "headers": headers or {}}
    if body is not None:
        kwargs["json"] = body
    if data is not None:
        kwargs["data"] = data
    return await client.open(path, **kwargs)


async def body_of(response: Response) -> Json:
    body: Json = await response.get_json()
    return body


def assert_json_headers(response: Response) -> None:
    """JSON as the service sends it: exactly `application/json`, not to be sniffed."""
    assert response.headers["Content-Type"] == "application/json"
    assert response.mimetype == "application/json"
    assert response.headers.getlist("X-Content-Type-Options") == ["nosniff"]
    assert len(response.headers.getlist("X-Request-ID")) == 1  # added once, whatever the path


async def assert_envelope(response: Response) -> Json:
    """A JSON envelope whose meta.request_id equals the X-Request-ID header; returns the body."""
    assert_json_headers(response)
    body = await body_of(response)
    assert body["meta"]["request_id"] == response.headers["X-Request-ID"]
    return body


async def assert_error(response: Response, status: int, code: str) -> dict[str, str]:
    """The error envelope, exactly, with this status and code (never HTML, never a traceback);
    returns `details`."""
    raw = await response.get_data(as_text=True)
    assert response.status_code == status, raw[:500]
    assert "<html" not in raw.lower()
    assert "Traceback" not in raw
    body = await assert_envelope(response)
    assert set(body) == {"error", "meta"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    details: dict[str, str] = body["error"]["details"]
    assert isinstance(details, dict)
    assert all(isinstance(key, str) and isinstance(value, str) for key, value in details.items())
    assert body["meta"] == {"request_id": response.headers["X-Request-ID"]}
    return details


def parse_timestamp(value: Any) -> datetime:
    """An RFC 3339 timestamp in UTC, written with `Z`."""
    assert isinstance(value, str)
    assert RFC3339_UTC.match(value), value
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert moment.utcoffset() == UTC.utcoffset(None)
    return moment


# --- the app and its database ----------------------------------------------------------------


@asynccontextmanager
async def serving(settings: Settings, **changes: Any) -> AsyncIterator[Quart]:
    """An app of its own, with these settings changed, started and stopped around the block."""
    app = create_app(settings.model_copy(update=changes))
    async with app.test_app():
        yield app


def runtime_of(app: Quart) -> Runtime:
    value: Runtime = app.extensions[RUNTIME]
    return value


@asynccontextmanager
async def database_engine(app: Quart) -> AsyncIterator[AsyncEngine]:
    """An engine on the app's database, apart from the app's own connections."""
    engine = create_engine(runtime_of(app).settings)
    try:
        yield engine
    finally:
        await engine.dispose()


@asynccontextmanager
async def database_session(app: Quart) -> AsyncIterator[AsyncSession]:
    """An ORM session on the app's database, apart from the app's own connections."""
    async with database_engine(app) as engine, AsyncSession(engine) as session:
        yield session


async def all_cells(app: Quart) -> list[str]:
    """Every value of every row of every table, as text."""
    async with database_engine(app) as engine, engine.connect() as connection:
        tables: list[str] = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        cells: list[str] = []
        for table in tables:
            rows = await connection.execute(text(f'SELECT * FROM "{table}"'))
            cells.extend(str(value) for row in rows for value in row)
    return cells


class Argon2Spy:
    """Records every argon2 hash and verification the process makes, and how many hashes run
    at once (patched on the library's class: it sees the hashing threads' work without reaching
    into Roster)."""

    def __init__(self, monkeypatch: Any) -> None:
        self.hashed: list[str] = []
        self.verified: list[tuple[str, str]] = []
        self.running = self.peak = self.finished = 0
        self.started = threading.Event()  # set once a hash has begun
        self._lock = threading.Lock()
        hash_, verify = PasswordHasher.hash, PasswordHasher.verify

        def hashing(hasher: PasswordHasher, password: str | bytes, **kwargs: Any) -> str:
            with self._lock:
                self.hashed.append(str(password))
                self.running += 1
                self.peak = max(self.peak, self.running)
            self.started.set()
            try:
                return hash_(hasher, password, **kwargs)
            finally:
                with self._lock:
                    self.running -= 1
                    self.finished += 1

        def verifying(hasher: PasswordHasher, password_hash: Any, password: Any) -> Literal[True]:
            with self._lock:
                self.verified.append((str(password_hash), str(password)))
            return verify(hasher, password_hash, password)

        monkeypatch.setattr(PasswordHasher, "hash", hashing)
        monkeypatch.setattr(PasswordHasher, "verify", verifying)

    def clear(self) -> None:
        with self._lock:
            self.hashed.clear()
            self.verified.clear()
            self.finished = self.peak = 0
        self.started.clear()

"""Client-side helpers shared by the tests: register, log in, make an admin."""

from __future__ import annotations

import uuid
from typing import Any

from quart import Quart
from quart.typing import TestClientProtocol

from service.runtime import Runtime
from service.services.users import create_user

Client = TestClientProtocol  # the name tests use; a Test* name would be collected by pytest
PASSWORD = "correct-horse-battery"
Json = dict[str, Any]


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


async def user_with_token(
    client: Client, name: str = "Alice", password: str = PASSWORD
) -> tuple[Json, str]:
    user = await register(client, name=name, password=password)
    return user, await login(client, user["email"], password)


async def admin_with_token(app: Quart, client: Client) -> tuple[Json, str]:
    """An admin, created the way `roster create-user --admin` does, and a token of theirs."""
    runtime: Runtime = app.extensions["roster"]
    email = unique_email("admin")
    user = await create_user(runtime.db, runtime.passwords, "Admin", email, PASSWORD, "admin")
    token = await login(client, email)
    response = await client.get(f"/api/users/{user.id}", headers=bearer(token))
    data: Json = (await response.get_json())["data"]
    return data, token

"""Property-based: schemathesis against the app's own /openapi.json, served by a real hypercorn.

For every documented operation, generated requests (valid and invalid) never get a 5xx, and each
response's status code, content type, headers and body conform to what /openapi.json documents.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from roster.app import create_app
from roster.db.audit import CLI
from roster.db.connect import open_database
from roster.domain.passwords import Passwords
from roster.domain.users import create_user
from roster.settings import Settings
from roster.testing.plugin import TEST_HASHING

from .helpers import PASSWORD, unique_email
from .server import Server, TemplateLike, fresh_database_url, run_server

pytestmark = pytest.mark.e2e

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
SERVER_ENV = {"LOG_LEVEL": "WARNING", "LOGIN_RATE_LIMIT": "1000000/minute"}


@dataclass
class Credentials:
    base_url: str
    admin_token: str

    def token_for(self, method: str) -> str:
        """An admin's token; a fresh user's for DELETE, which may revoke the token it uses."""
        if method.upper() != "DELETE":
            return self.admin_token
        email = unique_email("fuzz")
        with httpx.Client(base_url=self.base_url, timeout=30.0) as client:
            body = {"name": "Fuzz", "email": email, "password": PASSWORD}
            assert client.post("/api/users", json=body).status_code == 201
            login = client.post("/api/tokens", json={"email": email, "password": PASSWORD})
            assert login.status_code == 201
            token: str = login.json()["data"]["token"]
            return token


@pytest.fixture(scope="module")
def live_database_url(template: TemplateLike, tmp_path_factory: pytest.TempPathFactory) -> str:
    return fresh_database_url(template, tmp_path_factory.mktemp("schemathesis"))


@pytest.fixture(scope="module")
def live_server(
    live_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("schemathesis-logs")
    with run_server(live_database_url, env=SERVER_ENV, log_dir=directory) as server:
        yield server
    assert "Traceback" not in server.log()


@pytest.fixture(scope="module")
def credentials(live_server: Server, live_database_url: str) -> Credentials:
    email = unique_email("admin")
    asyncio.run(_create_admin(live_database_url, email))
    with httpx.Client(base_url=live_server.base_url, timeout=30.0) as client:
        login = client.post("/api/tokens", json={"email": email, "password": PASSWORD})
    assert login.status_code == 201, login.text
    return Credentials(live_server.base_url, login.json()["data"]["token"])


async def _create_admin(database_url: str, email: str) -> None:
    """An admin, made the way `roster create-user --admin` makes one."""
    db = open_database(Settings(database_url=database_url))
    passwords = Passwords(TEST_HASHING)
    try:
        await create_user(db, passwords, "Admin", email, PASSWORD, "admin", CLI)
    finally:
        passwords.close()
        await db.close()


def served_document(directory: Path) -> dict[str, Any]:
    """The app's /openapi.json, fetched in-process (it needs no database) at collection time.

    schemathesis' lazy `from_fixture` loader does not work with this pytest; the test below
    checks that the live server serves exactly this document.
    """
    app = create_app(
        Settings(
            database_url=f"sqlite+aiosqlite:///{directory / 'roster.db'}",
            log_level="WARNING",
            prometheus_multiproc_dir=str(directory / "metrics"),
        )
    )

    async def fetch() -> dict[str, Any]:
        async with app.test_app():
            response = await app.test_client().get("/openapi.json")
        assert response.status_code == 200
        document: dict[str, Any] = await response.get_json()
        return document

    return asyncio.run(fetch())


with tempfile.TemporaryDirectory() as _directory:
    DOCUMENT = served_document(Path(_directory))
schema = schemathesis.openapi.from_dict(DOCUMENT)


def test_the_live_server_serves_the_tested_document(live_server: Server) -> None:
    response = httpx.get(f"{live_server.base_url}/openapi.json", timeout=30.0)
    assert response.status_code == 200
    assert response.json() == DOCUMENT


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_its_openapi_document(
    case: schemathesis.Case[Any], credentials: Credentials
) -> None:
    token = credentials.token_for(case.method)
    case.call_and_validate(
        base_url=credentials.base_url,
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": uuid.uuid4().hex},
        checks=CHECKS,
        timeout=30,
    )

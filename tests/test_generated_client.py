"""A client generated from the live /openapi.json by a third-party generator (openapi-python-
client), without a warning, works against the server: every error status has its model, and
the headers a client sends (If-Match, Idempotency-Key) are parameters of the calls."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from .helpers import PASSWORD, unique_email
from .server import Server, TemplateLike, fresh_database_url, run_server

pytestmark = pytest.mark.e2e
PACKAGE = "roster_generated_client"
GENERATOR = Path(sys.executable).parent / "openapi-python-client"


@pytest.fixture(scope="module")
def server(template: TemplateLike, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("generated")
    with run_server(fresh_database_url(template, directory), log_dir=directory) as running:
        yield running


@pytest.fixture(scope="module")
def generated(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    directory = tmp_path_factory.mktemp("client")
    document = directory / "openapi.json"
    document.write_bytes(httpx.get(f"{server.base_url}/openapi.json").content)
    result = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(document), "--meta", "none",
         "--output-path", str(directory / PACKAGE)],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "PATH": f"{GENERATOR.parent}:{os.environ.get('PATH', '')}"},
    )  # fmt: skip
    output = result.stdout + result.stderr
    print(output)
    assert result.returncode == 0, output
    assert "Warning" not in output, output
    sys.path.insert(0, str(directory))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(directory))
        for name in [name for name in sys.modules if name.startswith(PACKAGE)]:
            del sys.modules[name]


def module(package: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


async def test_the_generated_client_registers_logs_in_lists_and_gets_typed_errors(
    generated: ModuleType, server: Server
) -> None:
    models = module(generated, "models")
    register = module(generated, "api.users.register_user")
    update = module(generated, "api.users.update_user")
    list_users = module(generated, "api.users.list_users")
    log_in = module(generated, "api.tokens.log_in")
    email = unique_email("generated")
    body = models.UserCreate(name="Gen", email=email, password=PASSWORD)

    async with generated.Client(base_url=server.base_url) as anonymous:
        created = await register.asyncio_detailed(
            client=anonymous, body=body, idempotency_key="k-1"
        )
        assert created.status_code == 201
        assert isinstance(created.parsed, models.UserEnvelope)
        again = await register.asyncio_detailed(client=anonymous, body=body)
        assert again.status_code == 409
        assert isinstance(again.parsed, models.ErrorEnvelope)
        assert again.parsed.error.code == "CONFLICT"
        login = await log_in.asyncio(
            client=anonymous, body=models.TokenCreate(email=email, password=PASSWORD)
        )
    assert isinstance(login, models.TokenEnvelope)
    user, etag = created.parsed.data, created.headers["ETag"]

    token = login.data.token
    async with generated.AuthenticatedClient(base_url=server.base_url, token=token) as signed_in:
        page = await list_users.asyncio(
            client=signed_in, sort=models.ListUsersSort.NAME_DESC, per_page=5
        )
        assert isinstance(page, models.UserListEnvelope)
        assert user.id in [listed.id for listed in page.data]
        patch = models.UserPatch(name="Renamed")
        changed = await update.asyncio_detailed(
            user.id, client=signed_in, body=patch, if_match=etag
        )
        assert changed.status_code == 200
        stale = await update.asyncio_detailed(user.id, client=signed_in, body=patch, if_match=etag)
    assert stale.status_code == 412
    assert isinstance(stale.parsed, models.ErrorEnvelope)
    assert stale.parsed.error.code == "PRECONDITION_FAILED"

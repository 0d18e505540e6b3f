"""roster-client as its users get it: models that match the server's document, a wheel that
installs without the server's dependencies, and an API that `mypy --strict` accepts."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .server import REPOSITORY

CLIENT = REPOSITORY / "client"
TIMEOUT = 300.0
SERVER_ONLY = ("quart", "quart_schema", "sqlalchemy", "argon2", "asyncpg", "hypercorn")


def run(command: list[str], cwd: Path = REPOSITORY) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def test_the_models_are_what_the_servers_document_generates() -> None:
    result = run([sys.executable, str(CLIENT / "generate.py"), "--check"])
    assert result.returncode == 0, result.stdout + result.stderr


USERS_CODE = """
from roster_client import NotFound, Page, RosterClient, User


async def rename_all(base_url: str, token: str) -> list[str]:
    names: list[str] = []
    async with RosterClient(base_url, token=token, max_connections=10) as roster:
        page: Page = await roster.users.list(sort="-name", per_page=10)
        async for user in roster.users.iterate(q="ada", role="user"):
            renamed: User = await roster.users.update(user, name=user.name.title())
            names.append(renamed.name)
        try:
            await roster.users.get(page.users[0].id)
        except NotFound as error:
            names.append(error.code + str(error.status) + str(error.details))
    return names
"""


@pytest.mark.e2e
def test_the_installed_client_needs_no_server_and_type_checks_its_users(tmp_path: Path) -> None:
    """The wheel in a fresh virtualenv: none of the server's dependencies come with it, and
    code written against it passes `mypy --strict` (its py.typed is honoured)."""
    wheels, source = tmp_path / "wheels", tmp_path / "client"
    # Built from a copy: setuptools writes build/ beside the sources it builds.
    shutil.copytree(CLIENT, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(wheels), str(source)])
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("roster_client-*.whl")
    venv = tmp_path / "venv"
    assert run([sys.executable, "-m", "venv", str(venv)]).returncode == 0
    python = str(venv / "bin" / "python")
    constraints = str(REPOSITORY / "constraints.txt")
    installed = run([python, "-m", "pip", "install", "-q", "-c", constraints, str(wheel), "mypy"])
    assert installed.returncode == 0, installed.stderr
    probe = textwrap.dedent(
        f"""
        import importlib.util, roster_client
        assert roster_client.RosterClient and roster_client.models.UserOut
        present = [name for name in {SERVER_ONLY!r} if importlib.util.find_spec(name)]
        assert present == [], present
        """
    )
    checked = run([python, "-c", probe], cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    (tmp_path / "uses_roster.py").write_text(USERS_CODE, encoding="utf-8")
    typed = run([python, "-m", "mypy", "--strict", "--no-incremental", "uses_roster.py"], tmp_path)
    assert typed.returncode == 0, typed.stdout

"""What operators run: the wheel, built from the sdist, installed into a fresh virtualenv outside
the repository, and started from an empty directory (docs/API.md §5)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import roster

from .helpers import PASSWORD, unique_email
from .server import FAST_HASHING_ENV, REPOSITORY, hypercorn, roster_serve, run_server

pytestmark = pytest.mark.e2e
BUILD_TIMEOUT = 300.0
COMMAND_TIMEOUT = 120.0


@dataclass(frozen=True)
class Distribution:
    sdist: Path
    wheel: Path


@dataclass(frozen=True)
class Installed:
    """A virtualenv holding the wheel, and an empty directory to run it from."""

    venv: Path
    workdir: Path

    def bin(self, name: str) -> Path:
        return self.venv / "bin" / name

    def run(
        self, *args: str, env: Mapping[str, str], stdin: str = ""
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin("roster")), *args],
            cwd=self.workdir,
            input=stdin,
            env={"PATH": "/usr/bin:/bin", **FAST_HASHING_ENV, **env},
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )


def _run(command: list[str], cwd: Path) -> None:
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def distribution(tmp_path_factory: pytest.TempPathFactory) -> Distribution:
    """`python -m build`: the sdist, then the wheel built from that sdist (as pip would)."""
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(REPOSITORY)], REPOSITORY)
    (sdist,) = out.glob("roster_api-*.tar.gz")
    (wheel,) = out.glob("roster_api-*.whl")
    return Distribution(sdist, wheel)


@pytest.fixture(scope="module")
def installed(distribution: Distribution, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("operator")
    venv, workdir = root / "venv", root / "empty"
    workdir.mkdir()
    _run([sys.executable, "-m", "venv", str(venv)], root)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    _run([*pip, "-c", str(REPOSITORY / "constraints.txt"), str(distribution.wheel)], root)
    return Installed(venv, workdir)


def test_the_sdist_and_the_wheel_carry_the_migrations(distribution: Distribution) -> None:
    versions = sorted(path.name for path in (REPOSITORY / "alembic" / "versions").glob("*.py"))
    assert versions
    with tarfile.open(distribution.sdist) as sdist:
        members = {
            Path(name).relative_to(Path(name).parts[0]).as_posix() for name in sdist.getnames()
        }
    assert {"alembic.ini", "alembic/env.py", "docs/API.md"} <= members
    assert {f"alembic/versions/{name}" for name in versions} <= members

    with zipfile.ZipFile(distribution.wheel) as wheel:
        files = set(wheel.namelist())
    assert "roster/_alembic/env.py" in files
    assert {f"roster/_alembic/versions/{name}" for name in versions} <= files
    package = Path(roster.__file__).parent
    modules = {path.relative_to(package.parent).as_posix() for path in package.rglob("*.py")}
    assert modules <= files, modules - files


def test_the_wheel_installs_roster_and_nothing_else_at_the_top(distribution: Distribution) -> None:
    """Nothing but the `roster` package (the migrations inside it) and the dist-info: no
    module of a common name that another distribution, or the user's own code, could hold."""
    with zipfile.ZipFile(distribution.wheel) as wheel:
        tops = {name.split("/")[0] for name in wheel.namelist()}
    (dist_info,) = (top for top in tops if top.endswith(".dist-info"))
    assert tops == {"roster", dist_info}
    assert dist_info.startswith("roster_api-")


def test_roster_version_is_the_package_version(installed: Installed) -> None:
    result = installed.run("--version", env={})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"roster {roster.__version__}"


def test_an_unmigrated_database_is_refused_with_what_to_do(
    installed: Installed, empty_database_url: str
) -> None:
    result = installed.run(
        "create-user", "--name", "A", "--email", unique_email(), "--password", PASSWORD,
        env={"DATABASE_URL": empty_database_url},
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("roster: ")
    assert "roster migrate" in result.stderr
    assert "Traceback" not in result.stderr


async def test_the_installed_package_migrates_creates_users_and_serves(
    installed: Installed, empty_database_url: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": empty_database_url}
    migrated = installed.run("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    email = unique_email("admin")
    created = installed.run(
        "create-user", "--name", "Admin", "--email", email, "--password", PASSWORD, "--admin",
        env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr

    launchers = {
        "roster serve": roster_serve(installed.bin("roster")),
        "hypercorn --workers 2": hypercorn(str(installed.bin("python"))),
    }
    for name, launcher in launchers.items():
        with run_server(
            empty_database_url,
            workers=2,
            launcher=launcher,
            cwd=installed.workdir,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ""},
            log_dir=tmp_path,
        ) as server:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
                ready = await http.get("/health/ready")
                assert ready.status_code == 200, (name, ready.text)
                body = {"name": "Wheel", "email": unique_email("wheel"), "password": PASSWORD}
                registered = await http.post("/api/users", json=body)
                assert registered.status_code == 201, (name, registered.text)
                login = {"email": email, "password": PASSWORD}
                assert (await http.post("/api/tokens", json=login)).status_code == 201, name
        assert server.process.returncode == 0, (name, server.log())
        assert "Traceback" not in server.log(), name
    assert sorted(installed.workdir.iterdir()) == [], "nothing is written where it was started"


# --- beside a team's own code ----------------------------------------------------------------

THEIR_TESTS = """
import roster
import service
from service.app import GREETING


def test_their_imports_stay_theirs():
    assert GREETING == "theirs"
    assert "site-packages" not in service.__file__
    assert "site-packages" in roster.__file__


async def test_roster_server_starts_roster(roster_server, roster):
    assert await roster.health()
    user = await roster.users.create("Grace", "grace@example.com", "correct horse battery")
    assert user.email == "grace@example.com"
"""


def readme_setup() -> str:
    """The pytest set-up the README gives teams (its `[tool.pytest.ini_options]` block)."""
    readme = (REPOSITORY / "README.md").read_text()
    start = readme.index("```toml\n[tool.pytest.ini_options]") + len("```toml\n")
    return readme[start : readme.index("```", start)]


@pytest.fixture(scope="module")
def team_venv(distribution: Distribution, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A team's test environment: the wheel with its `testing` extra, and roster-client."""
    venv = tmp_path_factory.mktemp("team") / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], venv.parent)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    constraints = ["-c", str(REPOSITORY / "constraints.txt")]
    _run([*pip, *constraints, f"{distribution.wheel}[testing]", str(REPOSITORY / "client")], venv)
    return venv


@pytest.mark.parametrize(
    ("runner", "layout"),
    [
        ("python -m pytest", "plain"),
        ("pytest", "pythonpath"),
        ("python -m pytest", "pythonpath"),
        ("pytest", "root conftest"),
        ("python -m pytest", "root conftest"),
    ],
)
def test_a_team_with_its_own_service_package_runs_its_tests_with_the_plugin(
    team_venv: Path, tmp_path: Path, runner: str, layout: str
) -> None:
    """A project whose own package is `service/` (a common name: Roster's import package
    used to be one) installs Roster and its client as the README says and runs pytest: the
    plugin loads, `service` stays theirs, and `roster_server` serves Roster."""
    project = tmp_path / "project"
    (project / "service").mkdir(parents=True)
    (project / "service" / "__init__.py").write_text("")
    (project / "service" / "app.py").write_text('GREETING = "theirs"\n')
    (project / "tests").mkdir()
    (project / "tests" / "test_theirs.py").write_text(THEIR_TESTS)
    ini = readme_setup() + ('pythonpath = ["."]\n' if layout == "pythonpath" else "")
    (project / "pyproject.toml").write_text(ini)
    if layout == "root conftest":
        (project / "conftest.py").write_text("")
    bin_dir = team_venv / "bin"
    command = (
        [str(bin_dir / "python"), "-m", "pytest"]
        if runner.startswith("python")
        else [str(bin_dir / "pytest")]
    )
    result = subprocess.run(
        [*command, "-p", "no:cacheprovider", "-q", "-W", "error"],
        cwd=project,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "2 passed" in result.stdout, result.stdout
    assert "warning" not in result.stdout.lower(), result.stdout


# --- schemathesis against the installed server -----------------------------------------------

PHASES = "examples,coverage,fuzzing,stateful"
# Every check but two: a schema-valid `cursor` is refused when it was not signed by the server
# (or comes with `page`), which no schema can say, so "schema-valid request rejected" would
# flag what the contract asks for (docs/API.md §3, cursor pagination); and "deleted resource
# still available" takes `DELETE /api/users/{id}/tokens` (ending every session: the collection
# emptied, not removed) for a deletion, and the session the next case logs in with (a fresh
# token for every case, tests/schemathesis_hooks.py) for a use of it. A deleted user's 404 is
# tested directly (tests/test_user_writes.py).
EXCLUDED_CHECKS = "positive_data_acceptance,use_after_free"
SCHEMATHESIS_TIMEOUT = 900.0


@pytest.mark.parametrize("who", ["user", "admin"])
async def test_schemathesis_finds_nothing_wrong_with_the_installed_server(
    installed: Installed, empty_database_url: str, tmp_path: Path, who: str
) -> None:
    """Every operation, every phase schemathesis has (the documented examples, coverage of
    each parameter's boundaries, fuzzing, stateful sequences), every check, as a user and as
    an admin (a fresh token for every case: tests/schemathesis_hooks.py), against `roster
    serve` from the wheel: nothing found."""
    database = {"DATABASE_URL": empty_database_url}
    assert installed.run("migrate", env=database).returncode == 0
    env = {"PATH": "/usr/bin:/bin", "LOGIN_RATE_LIMIT": "1000000/minute"}
    env |= {"LOGIN_ACCOUNT_RATE_LIMIT": "off", "LOGIN_ADDRESS_RATE_LIMIT": "off"}
    with run_server(
        empty_database_url,
        launcher=roster_serve(installed.bin("roster")),
        cwd=installed.workdir,
        env=env,
        log_dir=tmp_path,
    ) as server:
        probe = {
            "ROSTER_PROBE_URL": server.base_url,
            "ROSTER_PROBE_ROLE": who,
            "ROSTER_PROBE_PASSWORD": PASSWORD,
            "ROSTER_PROBE_CREATE_ADMIN": str(installed.bin("roster")),
            "ROSTER_PROBE_DATABASE_URL": empty_database_url,
            "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks",
            **FAST_HASHING_ENV,
        }
        result = await asyncio.to_thread(
            subprocess.run,
            [
                str(Path(sys.executable).parent / "st"), "--no-color", "run",
                f"{server.base_url}/openapi.json",
                "--url", server.base_url,
                "--phases", PHASES,
                "--checks", "all",
                "--exclude-checks", EXCLUDED_CHECKS,
                "--suppress-health-check", "filter_too_much,too_slow",
                "--max-examples", "10",
                "--seed", "1",
                "--workers", "1",
                "--request-timeout", "30",
            ],
            cwd=REPOSITORY,
            env={**os.environ, **probe},
            capture_output=True,
            text=True,
            timeout=SCHEMATHESIS_TIMEOUT,
            check=False,
        )  # fmt: skip
        log = server.log()
    summary = result.stdout[result.stdout.rfind("SUMMARY") :]
    print(f"schemathesis as {who}:\n{summary}")
    assert result.returncode == 0, result.stdout[-8000:]
    assert "Traceback" not in log

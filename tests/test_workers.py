"""Several hypercorn workers behave as one service: tokens, logout, rate limits, idempotency keys.

Which worker answered is read from the server's log: every line carries the worker's pid and the
request id, and each request here is sent on a new connection with an id of its own.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from roster.db.connect import create_engine
from roster.settings import Settings
from tests.conftest import Template
from tests.helpers import PASSWORD, bearer, unique_email
from tests.server import (
    FAST_HASHING_ENV,
    PGBOUNCER,
    WORKERS,
    Server,
    fresh_database_url,
    login,
    register,
    run_server,
)
from tests.test_metrics import samples, value

pytestmark = pytest.mark.e2e

ATTEMPTS_ALLOWED = 5
ACCESS_LINE = re.compile(r"pid=(\d+) \[([0-9a-f]{32})\] (\w+) (\S+) (\d{3})")


@pytest.fixture(scope="module")
def database(template: Template, tmp_path_factory: pytest.TempPathFactory) -> str:
    return fresh_database_url(template, tmp_path_factory.mktemp("workers-db"))


@pytest.fixture(scope="module")
def server(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("workers")
    env = {"LOGIN_RATE_LIMIT": f"{ATTEMPTS_ALLOWED}/minute", "LOG_LEVEL": "INFO"}
    with run_server(database, workers=WORKERS, env=env, log_dir=directory) as running:
        yield running


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    # No keep-alive: every request opens a connection, which either worker may accept.
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=30) as client:
        yield client


def workers_by_request(server: Server) -> dict[str, tuple[int, int]]:
    """request id → (worker pid, status), from the access lines logged so far."""
    return {
        match[2]: (int(match[1]), int(match[5])) for match in ACCESS_LINE.finditer(server.log())
    }


async def send(
    http: httpx.AsyncClient, method: str, path: str, **kwargs: object
) -> tuple[str, httpx.Response]:
    request_id = uuid.uuid4().hex
    headers = {"X-Request-ID": request_id, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
    response = await http.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]
    return request_id, response


Sent = tuple[str, httpx.Response]


async def until_every_worker(
    server: Server, batch: Callable[[], Awaitable[list[Sent]]]
) -> list[Sent]:
    """Send batches until every worker has answered one (at most 10): the kernel hands
    connections to whichever worker accepts first, so one burst may all land on one."""
    sent: list[Sent] = []
    for _ in range(10):
        sent += await batch()
        await asyncio.sleep(0.2)  # let the log lines land
        if len(pids_of(server, sent)) >= WORKERS:
            break
    return sent


def pids_of(server: Server, sent: list[Sent]) -> set[int]:
    answered = workers_by_request(server)
    return {answered[request_id][0] for request_id, _ in sent if request_id in answered}


async def spread(
    server: Server, http: httpx.AsyncClient, method: str, path: str, **kwargs: object
) -> list[tuple[int, int]]:
    """(pid, status) of requests sent until every worker has answered one."""

    async def batch() -> list[Sent]:
        return list(await asyncio.gather(*(send(http, method, path, **kwargs) for _ in range(20))))

    sent = await until_every_worker(server, batch)
    answered = workers_by_request(server)
    return [answered[request_id] for request_id, _ in sent if request_id in answered]


async def new_user(http: httpx.AsyncClient) -> str:
    """A registered user's email."""
    user = await register(http, name="Worker Test", email=unique_email("w"))
    email: str = user["email"]
    return email


async def test_a_token_is_accepted_by_every_worker(server: Server, http: httpx.AsyncClient) -> None:
    token = await login(http, await new_user(http))
    answers = await spread(server, http, "GET", "/api/profile", headers=bearer(token))
    assert {status for _, status in answers} == {200}
    assert len({pid for pid, _ in answers}) == WORKERS


async def test_logging_out_revokes_the_token_in_every_worker(
    server: Server, http: httpx.AsyncClient
) -> None:
    token = await login(http, await new_user(http))
    auth = bearer(token)
    assert (await http.delete("/api/tokens/current", headers=auth)).status_code == 204
    answers = await spread(server, http, "GET", "/api/profile", headers=auth)
    assert {status for _, status in answers} == {401}
    assert len({pid for pid, _ in answers}) == WORKERS


async def test_the_login_rate_limit_counts_across_workers(
    server: Server, http: httpx.AsyncClient
) -> None:
    email = await new_user(http)
    body = {"email": email, "password": "wrong-password"}

    async def batch() -> list[Sent]:
        return list(
            await asyncio.gather(*(send(http, "POST", "/api/tokens", json=body) for _ in range(8)))
        )

    attempts = await until_every_worker(server, batch)
    statuses = [response.status_code for _, response in attempts]
    assert statuses.count(401) == ATTEMPTS_ALLOWED
    assert statuses.count(429) == len(attempts) - ATTEMPTS_ALLOWED
    assert len(pids_of(server, attempts)) == WORKERS


async def test_one_idempotency_key_creates_one_user_across_workers(
    server: Server, http: httpx.AsyncClient
) -> None:
    email = unique_email("idem")
    body = {"name": "Once", "email": email, "password": PASSWORD}
    key = {"Idempotency-Key": uuid.uuid4().hex}

    async def batch() -> list[Sent]:
        return list(
            await asyncio.gather(
                *(send(http, "POST", "/api/users", json=body, headers=key) for _ in range(30))
            )
        )

    tries = await until_every_worker(server, batch)
    statuses = [response.status_code for _, response in tries]
    assert set(statuses) <= {201, 409}
    assert 201 in statuses
    for _, response in tries:
        if response.status_code == 409:
            assert response.json()["error"]["code"] == "IDEMPOTENCY_KEY_IN_USE"
    token = await login(http, email)  # the one user exists
    found = await http.get("/api/users", params={"q": email}, headers=bearer(token))
    assert found.json()["meta"]["total"] == 1
    assert len(pids_of(server, tries)) == WORKERS
    replay = await http.post("/api/users", json=body, headers=key)
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"


async def test_hundreds_of_concurrent_writes_lose_nothing(
    server: Server, http: httpx.AsyncClient
) -> None:
    """Every registration is answered 201 and stored, or refused as the contract allows under
    load (503 with `Retry-After`: every connection busy) and not stored: sent again, it lands
    (201, not 409). A machine slow enough makes a worker predict a wait beyond DB_POOL_TIMEOUT."""
    marker = uuid.uuid4().hex[:8]
    token = await login(http, await new_user(http))
    auth = bearer(token)

    async def create(index: int) -> tuple[str, httpx.Response]:
        body = {"name": f"n{index}", "email": f"{marker}-{index}@example.com", "password": PASSWORD}
        return await send(http, "POST", "/api/users", json=body)

    async def read(index: int) -> tuple[str, httpx.Response]:
        return await send(http, "GET", "/api/profile", headers=auth)

    registered = 0

    async def batch() -> list[Sent]:
        nonlocal registered
        first, registered = registered, registered + 300
        results = await asyncio.gather(
            *(create(i) for i in range(first, registered)), *(read(i) for i in range(100))
        )
        refused = [first + i for i, (_, r) in enumerate(results[:300]) if refused_as_busy(r)]
        assert [r.status_code for _, r in results[:300] if not refused_as_busy(r)] == [201] * (
            300 - len(refused)
        )
        assert all(r.status_code == 200 or refused_as_busy(r) for _, r in results[300:])
        return list(results) + await until_created(refused, create)

    results = await until_every_worker(server, batch)
    listed = await http.get("/api/users", params={"q": marker, "per_page": 1}, headers=auth)
    assert listed.json()["meta"]["total"] == registered
    assert len(pids_of(server, results)) == WORKERS
    assert "database is locked" not in server.log()


def refused_as_busy(response: httpx.Response) -> bool:
    """The contract's answer to a worker whose connections are all busy, nothing done."""
    if response.status_code != 503:
        return False
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    return True


async def until_created(
    refused: list[int], create: Callable[[int], Awaitable[Sent]], rounds: int = 20
) -> list[Sent]:
    """Sends the refused registrations again, a second apart, until each is 201 (a 409 would
    mean a refused one had been stored)."""
    sent: list[Sent] = []
    for _ in range(rounds):
        if not refused:
            return sent
        await asyncio.sleep(1)
        again = await asyncio.gather(*(create(index) for index in refused))
        sent += again
        assert all(r.status_code == 201 or refused_as_busy(r) for _, r in again)
        refused = [
            index for index, (_, r) in zip(refused, again, strict=True) if r.status_code != 201
        ]
    raise AssertionError(f"{len(refused)} registrations still refused after {rounds} tries")


async def test_the_workers_stay_within_their_connection_budget(
    server: Server, database: str, http: httpx.AsyncClient
) -> None:
    """workers x DB_CONNECTIONS PostgreSQL connections at most, whatever the load, and
    /metrics says so (README, Deployment)."""
    if not database.startswith("postgresql") or PGBOUNCER:
        pytest.skip("PostgreSQL's connections, counted at the server")
    budget = WORKERS * Settings.model_fields["db_connections"].default
    auth = bearer(await login(http, await new_user(http)))

    async def batch() -> list[Sent]:
        reads = (send(http, "GET", "/api/profile", headers=auth) for _ in range(200))
        return list(await asyncio.gather(*reads))

    await until_every_worker(server, batch)
    held = await connections_of_roster(database)
    scraped = samples((await http.get("/metrics")).text)
    assert value(scraped, "roster_database_capacity", kind="connections") == budget
    assert 0 < held <= budget


async def connections_of_roster(database: str) -> int:
    engine = create_engine(Settings(database_url=database))
    try:
        async with engine.connect() as connection:
            count = await connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = 'roster'"
                    " AND pid <> pg_backend_pid()"
                )
            )
    finally:
        await engine.dispose()
    return int(count or 0)


def test_log_lines_name_their_worker(server: Server) -> None:
    pids = {pid for pid, _ in workers_by_request(server).values()}
    assert pids, server.log()
    assert all(Path(f"/proc/{pid}").exists() for pid in pids)


async def test_a_session_ended_in_one_worker_is_refused_by_every_worker(
    server: Server, http: httpx.AsyncClient
) -> None:
    email = await new_user(http)
    keeper, ended = await login(http, email), await login(http, email)
    listed = (await http.get("/api/tokens", headers=bearer(ended))).json()["data"]
    (session,) = [item for item in listed if item["current"]]
    deleted = await http.delete(f"/api/tokens/{session['id']}", headers=bearer(keeper))
    assert deleted.status_code == 204
    answers = await spread(server, http, "GET", "/api/profile", headers=bearer(ended))
    assert {status for _, status in answers} == {401}
    assert len({pid for pid, _ in answers}) == WORKERS


async def test_a_disabled_users_tokens_fail_in_every_worker(
    server: Server, http: httpx.AsyncClient, admin_token: str
) -> None:
    email = await new_user(http)
    tokens = [await login(http, email) for _ in range(2)]
    user_id = (await http.get("/api/profile", headers=bearer(tokens[0]))).json()["data"]["id"]
    disabled = await http.patch(
        f"/api/users/{user_id}", json={"status": "disabled"}, headers=bearer(admin_token)
    )
    assert disabled.status_code == 200
    for token in tokens:
        answers = await spread(server, http, "GET", "/api/profile", headers=bearer(token))
        assert {status for _, status in answers} == {401}
        assert len({pid for pid, _ in answers}) == WORKERS


async def ended_key(http: httpx.AsyncClient, admin_token: str, cause: str) -> dict[str, str]:
    """A user's key, accepted by every worker, then ended by `cause` in one of them: its
    bearer header."""
    email = await new_user(http)
    token = await login(http, email)
    user_id = (await http.get("/api/profile", headers=bearer(token))).json()["data"]["id"]
    created = await http.post(
        "/api/keys", json={"name": "job", "scopes": ["users:read"]}, headers=bearer(token)
    )
    key = created.json()["data"]
    user, admin = f"/api/users/{user_id}", bearer(admin_token)
    request = {
        "owner": ("DELETE", f"/api/keys/{key['id']}", bearer(token), None),
        "admin": ("DELETE", f"{user}/keys/{key['id']}", admin, None),
        "password": ("PATCH", user, bearer(token), {"password": "another-password"}),
        "disabled": ("PATCH", user, admin, {"status": "disabled"}),
        "deleted": ("DELETE", user, admin, None),
    }[cause]
    method, path, headers, body = request
    assert (await http.request(method, path, headers=headers, json=body)).status_code < 300
    return bearer(key["key"])


@pytest.mark.parametrize("cause", ["owner", "admin", "password", "disabled", "deleted"])
async def test_a_key_ended_in_one_worker_is_refused_by_every_worker(
    server: Server, http: httpx.AsyncClient, admin_token: str, cause: str
) -> None:
    auth = await ended_key(http, admin_token, cause)
    answers = await spread(server, http, "GET", "/api/users", headers=auth)
    assert {status for _, status in answers} == {401}
    assert len({pid for pid, _ in answers}) == WORKERS


async def test_every_worker_records_one_audit_event_per_change(
    server: Server, http: httpx.AsyncClient, admin_token: str
) -> None:
    """Racing renames answered by every worker: one event each, with its request's id, and
    each event's old name the new name of the one before it (docs/API.md §7)."""
    token = await login(http, await new_user(http))
    user_id = (await http.get("/api/profile", headers=bearer(token))).json()["data"]["id"]

    async def batch() -> list[Sent]:
        renames = (
            send(
                http,
                "PATCH",
                f"/api/users/{user_id}",
                json={"name": f"Name {uuid.uuid4().hex[:8]}"},
                headers=bearer(token),
            )
            for _ in range(20)
        )
        return list(await asyncio.gather(*renames))

    sent = await until_every_worker(server, batch)
    assert {response.status_code for _, response in sent} == {200}
    assert len(pids_of(server, sent)) == WORKERS
    events: list[dict[str, object]] = []
    params: dict[str, str | int] = {"type": "user.updated", "target_id": user_id, "per_page": 100}
    while True:
        page = await http.get("/api/audit-events", params=params, headers=bearer(admin_token))
        assert page.status_code == 200
        events += page.json()["data"]
        cursor = page.json()["meta"]["next_cursor"]
        if cursor is None:
            break
        params = {"cursor": cursor}
    assert sorted(str(event["request_id"]) for event in events) == sorted(rid for rid, _ in sent)
    in_order = sorted(events, key=lambda event: int(str(event["id"])))
    names = [event["details"]["changes"]["name"] for event in in_order]  # type: ignore[index]
    for (_old, new), (following, _newer) in itertools.pairwise(names):
        assert new == following


@pytest.fixture(scope="module")
def admin_token(server: Server, database: str) -> str:
    """An admin, created the way `roster create-user --admin` creates one, and their token."""
    email = unique_email("admin")
    created = subprocess.run(
        [str(Path(sys.executable).parent / "roster"), "create-user", "--name", "Admin",
         "--email", email, "--password", PASSWORD, "--admin"],
        env={**os.environ, **FAST_HASHING_ENV, "DATABASE_URL": database},
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert json.loads(created.stdout)["role"] == "admin"
    response = httpx.post(
        f"{server.base_url}/api/tokens", json={"email": email, "password": PASSWORD}
    )
    token: str = response.json()["data"]["token"]
    return token


# Last in the module: on PostgreSQL its fresh database is the template, emptied, which is also
# the module server's (the module's servers and their users are done with by then).
async def test_the_per_address_limit_counts_across_workers(
    template: Template, tmp_path: Path
) -> None:
    """Every attempt from one address (all come from 127.0.0.1 here), whatever the email,
    counts in one window however the attempts are spread over the workers."""
    env = {"LOGIN_ADDRESS_RATE_LIMIT": f"{ATTEMPTS_ALLOWED}/minute"}
    url = await asyncio.to_thread(fresh_database_url, template, tmp_path)
    with run_server(url, workers=WORKERS, env=env, log_dir=tmp_path) as server:
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=server.base_url, limits=limits) as http:

            async def batch() -> list[Sent]:
                bodies = [{"email": unique_email("a"), "password": "wrong-pass"} for _ in range(8)]
                return list(
                    await asyncio.gather(
                        *(send(http, "POST", "/api/tokens", json=body) for body in bodies)
                    )
                )

            attempts = await until_every_worker(server, batch)
    statuses = [response.status_code for _, response in attempts]
    assert statuses.count(401) == ATTEMPTS_ALLOWED
    assert statuses.count(429) == len(attempts) - ATTEMPTS_ALLOWED
    assert len(pids_of(server, attempts)) == WORKERS

"""Logs and the client address (docs/API.md §4), read from real servers' stderr."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from roster.http.client_address import client_address
from roster.serving.logs import TEXT_FORMAT, TextFormatter, configure_logging, flush_logs

from .helpers import PASSWORD, bearer, unique_email
from .server import Server, login, register, roster_serve, run_server

Line = dict[str, Any]
ACCESS_FIELDS = {"method", "path", "status", "duration_ms", "client_address", "user_id"}


async def exercise(server: Server) -> tuple[str, str, int]:
    """Logins that succeed and fail, and an authenticated request; what must never be logged."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        user = await register(http)
        token = await login(http, user["email"])
        wrong = await http.post(
            "/api/tokens", json={"email": user["email"], "password": "not-the-password-x"}
        )
        assert wrong.status_code == 401
        unknown = await http.post(
            "/api/tokens", json={"email": unique_email("nobody"), "password": PASSWORD}
        )
        assert unknown.status_code == 401
        read = await http.get(
            f"/api/users/{user['id']}", headers={**bearer(token), "X-Request-ID": "read-1"}
        )
        assert read.status_code == 200
        assert await server.logged("[read-1]") or await server.logged('"read-1"')
    return token, "not-the-password-x", user["id"]


def assert_no_secrets(log: str, token: str, wrong_password: str) -> None:
    for secret in (token, PASSWORD, wrong_password, "Bearer "):
        assert secret not in log


@pytest.mark.e2e
async def test_json_logs_are_one_object_per_line_and_hold_no_secret(
    database_url: str, tmp_path: Path
) -> None:
    env = {"LOG_FORMAT": "json"}
    with run_server(database_url, env=env, launcher=roster_serve(), log_dir=tmp_path) as server:
        token, wrong_password, user_id = await exercise(server)
        assert await server.logged('"request_id":"read-1"')
        log = server.log()
    lines = [line for line in log.splitlines() if line.strip()]
    parsed: list[Line] = [json.loads(line) for line in lines]  # every line is one object
    for line in parsed:
        assert {"time", "level", "message", "request_id"} <= set(line)
        assert line["time"].endswith("Z")
    (read,) = [line for line in parsed if line["request_id"] == "read-1"]
    assert set(read) >= ACCESS_FIELDS
    assert read["method"] == "GET"
    assert read["path"] == f"/api/users/{user_id}"
    assert read["status"] == 200
    assert read["user_id"] == user_id
    assert read["client_address"] == "127.0.0.1"
    assert isinstance(read["duration_ms"], float)
    assert_no_secrets(log, token, wrong_password)
    # Each audit event is one line too, marked, with every field of the event (§7).
    audited = [line for line in parsed if line.get("audit_event") is True]
    kinds = sorted(line["type"] for line in audited)
    assert kinds == ["login.failed", "login.failed", "login.succeeded", "user.created"]
    for line in audited:
        assert set(line) >= {"id", "occurred_at", "actor_id", "credential", "target_id"}
        assert line["client_address"] == "127.0.0.1"
    (created,) = [line for line in audited if line["type"] == "user.created"]
    assert created["target_id"] == user_id
    assert created["details"] == {"role": "user"}


@pytest.mark.e2e
async def test_text_logs_hold_no_secret_either(database_url: str, tmp_path: Path) -> None:
    with run_server(database_url, log_dir=tmp_path) as server:
        token, wrong_password, user_id = await exercise(server)
        log = server.log()
    (read,) = [line for line in log.splitlines() if "[read-1]" in line]
    assert f"GET /api/users/{user_id} 200" in read
    assert f"user={user_id}" in read
    assert "client=127.0.0.1" in read
    assert_no_secrets(log, token, wrong_password)
    assert "roster.audit" not in log  # audit lines are for shippers of JSON logs


@pytest.mark.e2e
async def test_a_path_cannot_forge_a_text_log_line(database_url: str, tmp_path: Path) -> None:
    """CR, LF and ESC a client puts in a path are written escaped: one request, one line, and
    nothing reaches the terminal that shows the log."""
    forged = "/x%0d%0a2026-12-06 00:00:00,000 INFO roster.access pid=1 [x] DELETE /api/users/1 204"
    with run_server(database_url, log_dir=tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            for path, request_id in ((forged, "forged-1"), ("/x%1b[31mred", "escape-1")):
                response = await http.get(path, headers={"X-Request-ID": request_id})
                assert response.status_code == 404
                assert await server.logged(f"[{request_id}]")
        log = server.log()
    assert "\x1b" not in log
    assert "\r" not in log
    assert not any(line.startswith("2026-12-06 00:00:00,000") for line in log.splitlines())
    (line,) = [line for line in log.splitlines() if "[forged-1]" in line]
    assert "/x\\x0d\\x0a2026-12-06" in line
    (line,) = [line for line in log.splitlines() if "[escape-1]" in line]
    assert "/x\\x1b[31mred" in line


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("hops", "forwarded_for", "expected"),
    [
        pytest.param(0, "203.0.113.9", "127.0.0.1", id="forged-header-ignored-by-default"),
        pytest.param(1, "198.51.100.1, 203.0.113.9", "203.0.113.9", id="one-proxy"),
        pytest.param(2, "198.51.100.1, 203.0.113.9", "198.51.100.1", id="two-proxies"),
        pytest.param(3, "198.51.100.1, 203.0.113.9", "127.0.0.1", id="shorter-header"),
        pytest.param(1, "198.51.100.1, not-an-ip", "127.0.0.1", id="malformed-entry"),
    ],
)
async def test_the_access_log_names_the_client_address(
    database_url: str, tmp_path: Path, hops: int, forwarded_for: str, expected: str
) -> None:
    env = {"TRUSTED_PROXY_HOPS": str(hops)}
    with run_server(database_url, env=env, log_dir=tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            headers = {"X-Forwarded-For": forwarded_for, "X-Request-ID": "proxied"}
            assert (await http.get("/health", headers=headers)).status_code == 200
        assert await server.logged("[proxied]")
        (line,) = [line for line in server.log().splitlines() if "[proxied]" in line]
    assert f"client={expected} " in line


@pytest.mark.parametrize(
    ("peer", "headers", "hops", "expected"),
    [
        ("10.0.0.2", [], 1, "10.0.0.2"),
        ("10.0.0.2", ["203.0.113.9"], 0, "10.0.0.2"),
        ("10.0.0.2", ["203.0.113.9"], 1, "203.0.113.9"),
        ("10.0.0.2", ["198.51.100.1", "203.0.113.9"], 2, "198.51.100.1"),  # two header lines
        ("10.0.0.2", [" 2001:DB8::1 , 203.0.113.9"], 2, "2001:db8::1"),
        ("10.0.0.2", ["203.0.113.9:4711"], 1, "10.0.0.2"),
        ("10.0.0.2", [""], 1, "10.0.0.2"),
        (None, ["203.0.113.9"], 2, "-"),
        ("not-an-address", [], 0, "-"),
    ],
)
def test_client_address_rules(
    peer: str | None, headers: list[str], hops: int, expected: str
) -> None:
    assert client_address(peer, headers, hops) == expected


@pytest.fixture
def logs_to_capture(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[float], None]]:
    """Logging configured, with the batch given, to write to the captured stderr; after the
    test (whatever its outcome) to the real stderr again, not to a capture that has ended."""
    yield lambda batch_seconds: configure_logging("INFO", "text", batch_seconds)
    with capsys.disabled():
        configure_logging("INFO", "text", 0.05)


def test_every_line_logged_is_written_once_in_order_when_logging_stops(
    capsys: pytest.CaptureFixture[str], logs_to_capture: Callable[[float], None]
) -> None:
    """Lines are written a batch at a time by one thread: a burst from several threads loses
    nothing and repeats nothing, each thread's lines in its order, and stopping (shutdown, or
    logging configured again) writes what is still queued at once."""
    logs_to_capture(0.05)
    logger = logging.getLogger("roster.burst")

    def burst(name: str) -> None:
        for n in range(300):
            logger.info("%s line %d", name, n)

    threads = [threading.Thread(target=burst, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with capsys.disabled():
        configure_logging("INFO", "text", 0.05)  # stops the capturing writer
    lines = [line for line in capsys.readouterr().err.splitlines() if "roster.burst" in line]
    assert len(lines) == 1200
    for i in range(4):
        mine = [line.rsplit(" ", 1)[-1] for line in lines if f" t{i} line " in line]
        assert mine == [str(n) for n in range(300)]


def test_a_flush_writes_what_is_queued_at_once(
    capsys: pytest.CaptureFixture[str], logs_to_capture: Callable[[float], None]
) -> None:
    """With a long batch, nothing is written until the batch ends, or a flush asks for it
    (the app flushes as it stops serving, so its last lines are never left behind)."""
    logs_to_capture(60)
    logging.getLogger("roster.burst").info("one line, then a flush")
    flush_logs()  # returns once it is written: no waiting in the test
    assert "one line, then a flush" in capsys.readouterr().err


def test_text_lines_tell_the_time_as_logging_does() -> None:
    """The time prefix, made once a second, is logging's own to the millisecond: within a
    second, across seconds, and back to an earlier one (lines from a clock set back)."""
    ours, theirs = TextFormatter(), logging.Formatter(TEXT_FORMAT)
    for created in (1_765_000_000.001, 1_765_000_000.999, 1_765_000_001.5, 1_764_999_999.25, 0.0):
        record = logging.LogRecord("roster.test", logging.INFO, __file__, 1, "m", None, None)
        record.created, record.msecs = created, (created - int(created)) * 1000
        assert ours.formatTime(record) == theirs.formatTime(record)
        assert ours.formatTime(record, "%H:%M") == theirs.formatTime(record, "%H:%M")

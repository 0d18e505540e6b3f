"""The scenarios: which wrk script, how many connections, what one request is."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import Any

import httpx

from .cpus import Placement
from .seed import PASSWORD, Seeded
from .server import BenchError
from .wrk import WrkRun

PER_PAGE = 20


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    script: str  # in bench/lua/
    connections: tuple[int, ...]
    long: bool = False  # measured for --s5-duration instead of --duration
    by_key: bool = False  # sends the seeded API key instead of the session token


S1 = Scenario("S1", "GET /health", "health.lua", (64, 256))
S2 = Scenario("S2", "GET /api/users/{id}", "get_user.lua", (64, 256))
# S2 sent with an API key (users:read) of the bench user instead of a session token.
S2K = Scenario("S2K", "GET /api/users/{id} with an API key", "get_user.lua", (64, 256), by_key=True)
S3 = Scenario("S3", "GET /api/users?page&per_page=20", "list_users.lua", (64, 256))
S4 = Scenario("S4", "PATCH /api/users/{own id}", "patch_user.lua", (64, 256))
S5 = Scenario("S5", "POST /api/users", "register.lua", (64,), long=True)
S6 = Scenario("S6", "S2 while S5 runs", "get_user.lua", (64,))
S7 = Scenario("S7", "GET /api/users/{id}", "get_user.lua", (1000,))
# A login of a user of its own (run with the login limits off: LOGIN_*_RATE_LIMIT=off).
LOGIN = Scenario("LOGIN", "POST /api/tokens", "login.lua", (64,))
S6_WRITERS = 16  # S5's connections during S6
# The login limits a served Roster runs with here: LOGIN logs one user in thousands of times.
UNLIMITED_LOGINS = {
    "LOGIN_RATE_LIMIT": "1000000/second",
    "LOGIN_ACCOUNT_RATE_LIMIT": "off",
    "LOGIN_ADDRESS_RATE_LIMIT": "off",
}

ALL = (S1, S2, S2K, S3, S4, S5, S6, S7, LOGIN)
BY_KEY = {scenario.key: scenario for scenario in ALL}
# The floors answer S1 at every connection count a scenario compares with them.
FLOOR_CONNECTIONS = (64, 256, 1000)


def pick(keys: str | None) -> tuple[Scenario, ...]:
    if not keys:
        return ALL
    wanted = {key.strip().upper() for key in keys.split(",") if key.strip()}
    unknown = wanted - BY_KEY.keys()
    if unknown:
        raise BenchError(f"unknown scenarios: {', '.join(sorted(unknown))} (S1…S7, S2K, LOGIN)")
    return tuple(scenario for scenario in ALL if scenario.key in wanted)


def presented(scenario: Scenario, seeded: Seeded | None) -> Seeded | None:
    """The seeded data as the scenario sends it: for S2K, its key in place of the token."""
    if seeded is None or not scenario.by_key:
        return seeded
    if seeded.key is None:
        raise BenchError(f"{scenario.key}: this server made no API key (one without /api/keys?)")
    return replace(seeded, token=seeded.key)


def new_nonce() -> str:
    return secrets.token_hex(4)


def lua_env(seeded: Seeded | None, script: str) -> dict[str, str]:
    """What a wrk script reads from ROSTER_BENCH_*; a fresh nonce per wrk invocation."""
    env = {"ROSTER_BENCH_NONCE": new_nonce()}
    if seeded is None or script in {"health.lua", "register.lua"}:
        return env
    pages = -(-len(seeded.ids) // PER_PAGE)
    env |= {
        "ROSTER_BENCH_TOKEN": seeded.token,
        "ROSTER_BENCH_ID_MIN": str(seeded.id_min),
        "ROSTER_BENCH_ID_MAX": str(seeded.id_max),
        "ROSTER_BENCH_PAGES": str(pages),
        "ROSTER_BENCH_USER_ID": str(seeded.user_id),
        "ROSTER_BENCH_EMAIL": seeded.login_email,
        "ROSTER_BENCH_PASSWORD": PASSWORD,
    }
    return env


def load(
    base_url: str,
    script: str,
    connections: int,
    seconds: float,
    seeded: Seeded | None,
    placement: Placement,
    timeout: str,
) -> WrkRun:
    """One wrk run of a scenario's script against a server, on the load generator's cores."""
    return WrkRun(
        url=base_url + ("/health" if script == "health.lua" else "/"),
        script=script,
        connections=connections,
        duration_s=seconds,
        threads=placement.load_threads,
        timeout=timeout,
        env=lua_env(seeded, script),
        prefix=tuple(placement.load_prefix()),
    )


def probe(base_url: str, script: str, seeded: Seeded | None) -> None:
    """Send one request of the scenario's kind and insist on its success status."""
    headers = {} if seeded is None else {"Authorization": f"Bearer {seeded.token}"}
    request: tuple[str, str, dict[str, Any] | None, int]
    if script == "health.lua":
        request = ("GET", "/health", None, 200)
    elif seeded is None:
        raise BenchError(f"{script} needs seeded users")
    elif script == "get_user.lua":
        request = ("GET", f"/api/users/{seeded.id_max}", None, 200)
    elif script == "list_users.lua":
        request = ("GET", f"/api/users?page=2&per_page={PER_PAGE}", None, 200)
    elif script == "patch_user.lua":
        request = ("PATCH", f"/api/users/{seeded.user_id}", {"name": "Bench probe"}, 200)
    elif script == "login.lua":
        payload = {"email": seeded.login_email, "password": PASSWORD}
        request = ("POST", "/api/tokens", payload, 201)
        headers = {}
    elif script == "register.lua":
        email = f"probe-{new_nonce()}@example.com"
        payload = {"name": "Bench probe", "email": email, "password": PASSWORD}
        request = ("POST", "/api/users", payload, 201)
        headers = {}  # registration is public, as in register.lua
    else:
        raise BenchError(f"no probe for {script}")
    method, path, body, expected = request
    with httpx.Client(base_url=base_url, timeout=30.0, trust_env=False) as client:
        response = client.request(method, path, json=body, headers=headers)
    if response.status_code != expected:
        raise BenchError(
            f"probe {method} {path}: expected {expected}, got {response.status_code} "
            f"{response.text[:300]}"
        )

"""Seed users over HTTP (concurrently) and make the bench user who holds the token."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from .server import BenchError

PASSWORD = "bench-password-1"  # noqa: S105 -- the seeded users' password
CONCURRENCY = 16
TIMEOUT = 60.0
ATTEMPTS = 5
RETRIED = {409, 503}  # 409: the first attempt is still running (IDEMPOTENCY_KEY_IN_USE)


@dataclass(frozen=True)
class Seeded:
    ids: tuple[int, ...]  # every user created, the bench user included
    user_id: int  # the bench user: the token's owner, patched in S4
    token: str
    seconds: float
    key: str | None = None  # an API key (users:read) of the bench user, where the server has them
    login_email: str = ""  # a user of its own for the login scenario (its sessions churn)

    @property
    def id_min(self) -> int:
        return min(self.ids)

    @property
    def id_max(self) -> int:
        return max(self.ids)


async def _register(client: httpx.AsyncClient, name: str, email: str) -> int:
    """Register one user; retried on a dropped connection, with an Idempotency-Key so a retry
    replays the first outcome instead of creating the user twice (or failing with 409)."""
    body = {"name": name, "email": email, "password": PASSWORD}
    headers = {"Idempotency-Key": f"bench-seed-{email}"}
    problem = ""
    for attempt in range(ATTEMPTS):
        if attempt:
            await asyncio.sleep(0.5 * attempt)
        try:
            response = await client.post("/api/users", json=body, headers=headers)
        except httpx.TransportError as error:
            problem = f"{type(error).__name__}: {error}"
            continue
        if response.status_code == 201:
            user_id: int = response.json()["data"]["id"]
            return user_id
        problem = f"{response.status_code} {response.text[:300]}"
        if response.status_code not in RETRIED:
            break
    raise BenchError(f"seeding {email}: {problem}")


async def seed(base_url: str, users: int, nonce: str) -> Seeded:
    loop = asyncio.get_running_loop()
    started = loop.time()
    gate = asyncio.Semaphore(CONCURRENCY)
    # Idle connections are dropped before hypercorn's 5 s keep-alive timeout can race a request.
    limits = httpx.Limits(max_connections=CONCURRENCY, keepalive_expiry=2.0)
    async with httpx.AsyncClient(
        base_url=base_url, timeout=TIMEOUT, limits=limits, trust_env=False
    ) as client:

        async def one(number: int) -> int:
            async with gate:
                return await _register(
                    client, f"Seed User {number}", f"seed-{nonce}-{number}@example.com"
                )

        ids = list(await asyncio.gather(*(one(n) for n in range(1, users + 1))))
        email = f"bench-owner-{nonce}@example.com"
        user_id = await _register(client, "Bench Owner", email)
        ids.append(user_id)
        try:
            response = await client.post("/api/tokens", json={"email": email, "password": PASSWORD})
        except httpx.TransportError as error:
            raise BenchError(f"logging in: {type(error).__name__}: {error}") from error
        if response.status_code != 201:
            raise BenchError(f"logging in: {response.status_code} {response.text[:300]}")
        token: str = response.json()["data"]["token"]
        key = await _key(client, token)
        login_email = f"bench-login-{nonce}@example.com"
        await _register(client, "Bench Login", login_email)
    ordered = tuple(sorted(ids))
    if ordered[-1] - ordered[0] + 1 != len(ordered):
        raise BenchError("seeded ids are not contiguous: random ids would hit missing users")
    return Seeded(ordered, user_id, token, loop.time() - started, key, login_email)


async def _key(client: httpx.AsyncClient, token: str) -> str | None:
    """An API key of the bench user's, for S2K; None from a server without keys (older)."""
    body = {"name": "bench", "scopes": ["users:read"]}
    response = await client.post(
        "/api/keys", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    if response.status_code != 201:
        return None
    key: str = response.json()["data"]["key"]
    return key

"""Login limits (docs/API.md §2, v1.1): the per-address limit beside the per-email one, and the
IETF rate-limit fields on every counted attempt."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from quart import Quart
from quart.wrappers import Response

from roster.settings import RateLimit, Settings

from .helpers import PASSWORD, Client, assert_error, register, serving, unique_email

POLICY = '"email";q=3;w=60, "account";q=100;w=3600, "address";q=5;w=60'
KNOWN_POLICY = '"email";q=3;w=60, "address";q=5;w=60'
STATE = re.compile(r'^"(email|account|address)";r=(\d+);t=(\d+)$')


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[Quart]:
    """3 attempts per email and 5 per address, each per minute."""
    async with serving(
        settings, login_rate_limit=RateLimit(3, 60), login_address_rate_limit=RateLimit(5, 60)
    ) as app:
        yield app


async def attempt(
    client: Client, email: str, password: str = "wrong-password", address: str = "198.51.100.1",
    headers: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    return await client.post(
        "/api/tokens",
        json={"email": email, "password": password},
        headers=headers or {},
        scope_base={"client": (address, 50000)},
    )


def state(response: Response) -> tuple[str, int, int]:
    match = STATE.match(response.headers["RateLimit"])
    assert match is not None, response.headers["RateLimit"]
    return match[1], int(match[2]), int(match[3])


async def test_the_address_limit_counts_every_email(limited: Quart) -> None:
    client = limited.test_client()
    for _ in range(5):
        assert (await attempt(client, unique_email())).status_code == 401
    refused = await attempt(client, unique_email())
    await assert_error(refused, 429, "RATE_LIMITED")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    elsewhere = await attempt(client, unique_email(), address="198.51.100.2")
    assert elsewhere.status_code == 401  # another address is another count


async def test_the_address_limit_can_be_turned_off(settings: Settings) -> None:
    async with serving(settings, login_address_rate_limit=None) as app:
        client = app.test_client()
        for _ in range(12):
            response = await attempt(client, unique_email())
            assert response.status_code == 401
        assert response.headers["RateLimit-Policy"] == '"email";q=10;w=60, "account";q=100;w=3600'


async def test_every_counted_attempt_carries_the_rate_limit_fields(limited: Quart) -> None:
    client = limited.test_client()
    user = await register(client)
    outcomes = [
        await attempt(client, user["email"], PASSWORD),  # 201
        await attempt(client, user["email"]),  # 401
        await attempt(client, user["email"]),  # 401
        await attempt(client, user["email"]),  # 429
    ]
    assert [response.status_code for response in outcomes] == [201, 401, 401, 429]
    # Once the user logged in from this address, the per-account limit no longer counts it.
    assert outcomes[0].headers["RateLimit-Policy"] == POLICY
    for response in outcomes[1:]:
        assert response.headers["RateLimit-Policy"] == KNOWN_POLICY
    assert [state(response)[:2] for response in outcomes] == [
        ("email", 2), ("email", 1), ("email", 0), ("email", 0)
    ]  # fmt: skip
    for response in outcomes[:3]:
        assert 1 <= state(response)[2] <= 60
    assert state(outcomes[3])[2] == int(outcomes[3].headers["Retry-After"])


async def test_the_tighter_limit_is_the_one_reported(limited: Quart) -> None:
    client = limited.test_client()
    for _ in range(4):
        await attempt(client, unique_email())
    # The address has 5 - 5 = 0 left after this one; a fresh email would have 2.
    response = await attempt(client, unique_email())
    assert state(response)[:2] == ("address", 0)


async def test_an_attempt_that_is_not_counted_has_no_fields(limited: Quart) -> None:
    response = await limited.test_client().post("/api/tokens", json={"email": "x@y.z"})
    await assert_error(response, 422, "VALIDATION_ERROR")
    assert "RateLimit" not in response.headers


async def test_a_forged_forwarded_for_neither_names_nor_frees_the_address(
    limited: Quart,
) -> None:
    """With TRUSTED_PROXY_HOPS=0 (the default) X-Forwarded-For is the client's own say-so."""
    client = limited.test_client()
    for index in range(5):
        forged = {"X-Forwarded-For": f"203.0.113.{index}"}
        assert (await attempt(client, unique_email(), headers=forged)).status_code == 401
    refused = await attempt(client, unique_email(), headers={"X-Forwarded-For": "203.0.113.99"})
    await assert_error(refused, 429, "RATE_LIMITED")


async def test_the_default_address_limit_is_1000_a_minute(client: Client) -> None:
    response = await attempt(client, unique_email())
    policy = response.headers["RateLimit-Policy"]
    assert policy == '"email";q=10;w=60, "account";q=100;w=3600, "address";q=1000;w=60'

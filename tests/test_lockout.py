"""Guessing stays bounded, and nobody can lock a user out (docs/API.md §2, v1.2): the strict
limit counts one email from one address, a looser one counts the email from every address but
those the user logged in from lately."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from quart import Quart
from quart.wrappers import Response

from roster.settings import RateLimit, Settings

from .helpers import PASSWORD, Client, assert_error, register, serving

PAIR, ACCOUNT = 3, 6
HOME, ATTACKER, NEW_PLACE = "198.51.100.10", "203.0.113.66", "192.0.2.77"


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[Quart]:
    async with serving(
        settings,
        login_rate_limit=RateLimit(PAIR, 60),
        login_account_rate_limit=RateLimit(ACCOUNT, 3600),
        login_address_rate_limit=None,
    ) as app:
        yield app


async def log_in(client: Client, email: str, address: str, password: str = PASSWORD) -> Response:
    return await client.post(
        "/api/tokens",
        json={"email": email, "password": password},
        scope_base={"client": (address, 50000)},
    )


async def test_an_attacker_at_one_address_neither_locks_the_user_out_nor_guesses_more(
    limited: Quart,
) -> None:
    client = limited.test_client()
    user = await register(client)
    assert (await log_in(client, user["email"], HOME)).status_code == 201  # home is known
    for _ in range(PAIR):
        assert (await log_in(client, user["email"], ATTACKER, "wrong-guess-1")).status_code == 401
    for _ in range(5):  # no more guesses than the strict limit allows, the right one included
        await assert_error(await log_in(client, user["email"], ATTACKER), 429, "RATE_LIMITED")
    assert (await log_in(client, user["email"], HOME)).status_code == 201


async def test_guesses_spread_over_many_addresses_meet_the_account_limit(limited: Quart) -> None:
    client = limited.test_client()
    user = await register(client)
    assert (await log_in(client, user["email"], HOME)).status_code == 201
    answers = [
        (await log_in(client, user["email"], f"203.0.113.{n}", "wrong-guess-1")).status_code
        for n in range(1, 13)
    ]
    # The first login from home counted too: home was not known before it.
    assert answers == [401] * (ACCOUNT - 1) + [429] * (13 - ACCOUNT)
    # The user, where they log in from, is let through; at a place they never used, they wait
    # for the window like anyone.
    assert (await log_in(client, user["email"], HOME)).status_code == 201
    await assert_error(await log_in(client, user["email"], NEW_PLACE), 429, "RATE_LIMITED")


async def test_an_address_is_known_once_the_user_logged_in_from_it(limited: Quart) -> None:
    client = limited.test_client()
    user = await register(client)
    for n in range(ACCOUNT):
        await log_in(client, user["email"], f"203.0.113.{n}", "wrong-guess-1")
    # A wrong password from home does not make home known.
    assert (await log_in(client, user["email"], HOME, "wrong-guess-1")).status_code == 429


async def test_the_rate_limit_fields_name_the_limits_that_counted(limited: Quart) -> None:
    client = limited.test_client()
    user = await register(client)
    first = await log_in(client, user["email"], HOME)
    assert (
        first.headers["RateLimit-Policy"] == f'"email";q={PAIR};w=60, "account";q={ACCOUNT};w=3600'
    )
    again = await log_in(client, user["email"], HOME)  # known now: the account limit is not
    assert again.headers["RateLimit-Policy"] == f'"email";q={PAIR};w=60'

"""Section 2 of the contract: `LOGIN_RATE_LIMIT` on POST /api/tokens."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from quart import Quart
from quart.wrappers import Response
from sqlalchemy import Select, func, select

from roster.db.models import LoginAttempt
from roster.domain.housekeeping import purge
from roster.domain.rate_limits import attempt_key
from roster.schemas import UNKNOWN_ADDRESS
from roster.settings import RateLimit, Settings, SettingsError

from .helpers import (
    PASSWORD,
    Argon2Spy,
    Client,
    assert_error,
    database_session,
    register,
    runtime_of,
    serving,
    unique_email,
)

WRONG = "wrong-password-123"
LIMIT, WINDOW = 3, 60


@dataclass
class Limited:
    app: Quart
    client: Client


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[Limited]:
    """An app allowing 3 login attempts per 60 s for one email."""
    async with limited_app(settings, RateLimit(LIMIT, WINDOW)) as limited:
        yield limited


@contextlib.asynccontextmanager
async def limited_app(settings: Settings, rule: RateLimit) -> AsyncIterator[Limited]:
    """The per-email limit alone (the per-address one is tested in test_login_limits.py, the
    per-account one in test_lockout.py); every attempt here comes from one address."""
    async with serving(
        settings,
        login_rate_limit=rule,
        login_address_rate_limit=None,
        login_account_rate_limit=None,
        # Attempts are kept for the longest window of every limit counted beside them.
        mail_request_rate_limit=RateLimit(5, rule.window_seconds),
    ) as app:
        yield Limited(app, app.test_client())


async def attempt(client: Client, email: str, password: str = PASSWORD) -> Response:
    return await client.post("/api/tokens", json={"email": email, "password": password})


async def assert_rate_limited(response: Response, window: int = WINDOW) -> int:
    """The 429 envelope; returns its Retry-After."""
    details = await assert_error(response, 429, "RATE_LIMITED")
    raw = response.headers["Retry-After"]
    assert raw.isdigit(), raw
    seconds = int(raw)
    assert 1 <= seconds <= window
    assert raw in details["Retry-After"]
    return seconds


async def statuses(client: Client, email: str, passwords: list[str]) -> list[int]:
    return [(await attempt(client, email, password)).status_code for password in passwords]


async def age_attempts(app: Quart, seconds: float, email: str | None = None) -> None:
    """Move recorded attempts (all, or one email's) `seconds` into the past."""
    statement = select(LoginAttempt).order_by(LoginAttempt.id)
    if email is not None:
        counted = f"{email}\x00{UNKNOWN_ADDRESS}"  # the test client has no peer address
        statement = statement.where(LoginAttempt.key_hash == attempt_key("email", counted))
    await _age(app, statement, seconds)


async def age_oldest_attempts(app: Quart, count: int, seconds: float) -> None:
    await _age(app, select(LoginAttempt).order_by(LoginAttempt.id).limit(count), seconds)


async def _age(app: Quart, rows: Select[LoginAttempt], seconds: float) -> None:
    # Computed here, not in SQL: SQLite stores timestamps as text, so no date arithmetic there.
    async with database_session(app) as session:
        attempts = list((await session.scalars(rows)).all())
        assert attempts
        for row in attempts:
            row.attempted_at = row.attempted_at - timedelta(seconds=seconds)
        await session.commit()


async def attempt_count(app: Quart) -> int:
    async with database_session(app) as session:
        return await session.scalar(select(func.count()).select_from(LoginAttempt)) or 0


# --- the limit ---------------------------------------------------------------------------------


async def test_the_attempt_after_the_limit_is_429_with_retry_after(limited: Limited) -> None:
    client = limited.client
    user = await register(client)
    assert await statuses(client, user["email"], [WRONG, WRONG, PASSWORD]) == [401, 401, 201]
    response = await attempt(client, user["email"])
    seconds = await assert_rate_limited(response)
    assert seconds > WINDOW // 2  # the attempts were all just made


async def test_successful_logins_count(limited: Limited) -> None:
    client = limited.client
    user = await register(client)
    assert await statuses(client, user["email"], [PASSWORD] * LIMIT) == [201] * LIMIT
    await assert_rate_limited(await attempt(client, user["email"]))


async def test_unknown_emails_are_limited_alike(limited: Limited) -> None:
    client = limited.client
    email = unique_email("nobody")
    assert await statuses(client, email, [WRONG] * LIMIT) == [401] * LIMIT
    await assert_rate_limited(await attempt(client, email, WRONG))


async def test_refused_attempts_count_too(limited: Limited) -> None:
    client, app = limited.client, limited.app
    user = await register(client)
    assert await statuses(client, user["email"], [PASSWORD] * LIMIT) == [201] * LIMIT
    for _ in range(LIMIT):
        await assert_rate_limited(await attempt(client, user["email"]))

    # The allowed attempts leave the window; the refused ones are still in it.
    await age_oldest_attempts(app, LIMIT, WINDOW + 1)
    await assert_rate_limited(await attempt(client, user["email"]))


async def test_the_limit_is_per_normalised_email(limited: Limited) -> None:
    client = limited.client
    user = await register(client)
    email = user["email"]
    other = await register(client, name="Other")
    variants = [f"  {email.upper()} ", email, f"\t{email.capitalize()}"]
    assert [(await attempt(client, v)).status_code for v in variants] == [201] * LIMIT
    await assert_rate_limited(await attempt(client, email))
    await assert_rate_limited(await attempt(client, f" {email.upper()}"))

    # Another email has a bucket of its own.
    assert await statuses(client, other["email"], [WRONG, PASSWORD]) == [401, 201]


async def test_the_limit_is_checked_before_the_credentials(
    limited: Limited, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = limited.client
    user = await register(client)
    nobody = unique_email("nobody")
    assert await statuses(client, user["email"], [WRONG] * LIMIT) == [401] * LIMIT
    assert await statuses(client, nobody, [WRONG] * LIMIT) == [401] * LIMIT

    spy = Argon2Spy(monkeypatch)
    await assert_rate_limited(await attempt(client, user["email"], PASSWORD))
    await assert_rate_limited(await attempt(client, nobody, PASSWORD))
    assert spy.verified == []

    # The spy does see a check that is made.
    fresh = await register(client, name="Fresh")
    spy.clear()
    assert (await attempt(client, fresh["email"])).status_code == 201
    assert len(spy.verified) == 1


async def test_logins_work_again_once_the_window_has_passed(limited: Limited) -> None:
    client, app = limited.client, limited.app
    user = await register(client)
    assert await statuses(client, user["email"], [WRONG] * LIMIT) == [401] * LIMIT
    await assert_rate_limited(await attempt(client, user["email"]))

    await age_attempts(app, WINDOW + 1)
    assert await statuses(client, user["email"], [PASSWORD] * LIMIT) == [201] * LIMIT
    await assert_rate_limited(await attempt(client, user["email"]))


async def test_retry_after_decreases_as_the_attempts_age(limited: Limited) -> None:
    client, app = limited.client, limited.app
    email = unique_email("nobody")
    assert await statuses(client, email, [WRONG] * LIMIT) == [401] * LIMIT
    fresh = await assert_rate_limited(await attempt(client, email, WRONG))
    assert fresh > WINDOW - 10

    await age_attempts(app, 30)
    half = await assert_rate_limited(await attempt(client, email, WRONG))
    assert WINDOW - 30 - 10 < half <= WINDOW - 30

    await age_attempts(app, 27)
    late = await assert_rate_limited(await attempt(client, email, WRONG))
    assert late <= WINDOW - 57


async def test_retry_after_is_at_least_one_and_at_most_the_window(settings: Settings) -> None:
    async with limited_app(settings, RateLimit(1, 1)) as limited:
        email = unique_email("nobody")
        assert (await attempt(limited.client, email, WRONG)).status_code == 401
        for _ in range(3):
            seconds = await assert_rate_limited(await attempt(limited.client, email, WRONG), 1)
            assert seconds == 1


async def test_the_default_limit_is_10_per_minute(client: Client) -> None:
    email = unique_email("nobody")
    assert await statuses(client, email, [WRONG] * 10) == [401] * 10
    await assert_rate_limited(await attempt(client, email, WRONG), window=60)


async def test_concurrent_attempts_never_exceed_the_limit(settings: Settings) -> None:
    async with limited_app(settings, RateLimit(5, 60)) as limited:
        client = limited.client
        user = await register(client)
        responses = await asyncio.gather(*(attempt(client, user["email"]) for _ in range(20)))
        allowed = [r for r in responses if r.status_code != 429]
        assert len(allowed) == 5
        assert {r.status_code for r in allowed} == {201}
        for response in responses:
            if response.status_code == 429:
                await assert_rate_limited(response)


async def test_purge_keeps_the_attempts_still_in_the_window(limited: Limited) -> None:
    client, app = limited.client, limited.app
    old, recent = unique_email("old"), unique_email("recent")
    await statuses(client, old, [WRONG] * 2)
    await statuses(client, recent, [WRONG] * 2)
    await age_attempts(app, WINDOW + 1, email=old)

    runtime = runtime_of(app)
    await purge(runtime.db, runtime.settings, datetime.now(UTC))
    assert await attempt_count(app) == 2
    # The recent attempts still count: one more is allowed, then 429.
    assert (await attempt(client, recent, WRONG)).status_code == 401
    await assert_rate_limited(await attempt(client, recent, WRONG))


# --- configuration -----------------------------------------------------------------------------


def test_the_default_setting_is_10_per_60_seconds() -> None:
    assert Settings().login_rate_limit == RateLimit(10, 60)
    assert Settings.from_env({}).login_rate_limit == RateLimit(10, 60)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10/minute", RateLimit(10, 60)),
        ("5/second", RateLimit(5, 1)),
        ("100/hour", RateLimit(100, 3600)),
        ("20/30seconds", RateLimit(20, 30)),
        ("3/day", RateLimit(3, 86400)),
        ("10/minutes", RateLimit(10, 60)),
        (" 7 / 2 minutes ", RateLimit(7, 120)),
    ],
)
def test_rate_limit_parse_accepts(text: str, expected: RateLimit) -> None:
    assert RateLimit.parse(text) == expected
    assert Settings.from_env({"LOGIN_RATE_LIMIT": text}).login_rate_limit == expected


@pytest.mark.parametrize(
    "text",
    [
        "garbage",
        "10",
        "10/",
        "/minute",
        "ten/minute",
        "10/fortnight",
        "0/minute",
        "10/0seconds",
        "-1/minute",
        "1.5/minute",
        "10 per minute",
    ],
)
def test_rate_limit_parse_rejects(text: str) -> None:
    with pytest.raises(SettingsError):
        RateLimit.parse(text)
    with pytest.raises(SettingsError):
        Settings.from_env({"LOGIN_RATE_LIMIT": text})

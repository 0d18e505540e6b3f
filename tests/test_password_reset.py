"""Password resets (docs/API.md §6) through the API, delivered to a real SMTP server on
loopback by the app's own sender."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from quart import Quart
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from roster.db.models import MailMessage, MailToken
from roster.domain.credentials import hash_token
from roster.settings import MailUrl, RateLimit, Settings
from roster.testing.mailbox import MailServer, Received

from .factories import Account, Accounts
from .helpers import PASSWORD, Client, assert_error, bearer, runtime_of, serving, unique_email

NEW_PASSWORD = "a-brand-new-password"


@pytest.fixture
def settings(settings: Settings, smtp: MailServer) -> Settings:
    """The app's mail goes to the test's SMTP server."""
    return settings.model_copy(
        update={"mail_url": MailUrl.parse(smtp.url), "mail_poll_seconds": 0.1}
    )


async def mail_for(smtp: MailServer, address: str, count: int = 1) -> list[Received]:
    """The reset messages and notices to `address` (a registered user also got a
    verification message)."""
    return await smtp.wait_for(address, count, subject="password")


async def ask(client: Client, email: str) -> None:
    response = await client.post("/api/password-resets", json={"email": email})
    assert response.status_code == 202, await response.get_data(as_text=True)
    body = await response.get_json()
    assert body["data"] == {"status": "accepted"}


async def confirm(client: Client, token: str, password: str = NEW_PASSWORD) -> int:
    response = await client.post(
        "/api/password-resets/confirm", json={"token": token, "password": password}
    )
    return response.status_code


async def outbox_states(app: Quart) -> list[tuple[str, str]]:
    def read(session: Session) -> list[tuple[str, str]]:
        rows = session.execute(select(MailMessage.kind, MailMessage.state).order_by(MailMessage.id))
        return [(row.kind, row.state) for row in rows]

    return await runtime_of(app).db.write(read)


async def test_a_reset_link_arrives_and_sets_a_new_password(
    alice: Account, smtp: MailServer, settings: Settings
) -> None:
    other_session = await alice.client.post(
        "/api/tokens", json={"email": alice.email, "password": PASSWORD}
    )
    assert other_session.status_code == 201
    await ask(alice.client, alice.email.upper())  # matched as every email is
    [message] = await mail_for(smtp, alice.email)
    assert message.message["Subject"] == "Reset your Roster password"
    token = message.token
    assert f"http://127.0.0.1:8000/reset-password?token={token}" in message.message.get_content()

    assert await confirm(alice.client, token) == 204
    # every session ended; the new password works, the old one does not
    for old in (alice.token, (await other_session.get_json())["data"]["token"]):
        assert (await alice.client.get("/api/profile", headers=bearer(old))).status_code == 401
    logins = [
        await alice.client.post("/api/tokens", json={"email": alice.email, "password": p})
        for p in (NEW_PASSWORD, PASSWORD)
    ]
    assert [r.status_code for r in logins] == [201, 401]
    # a notice to the address; the token is spent
    notices = await mail_for(smtp, alice.email, count=2)
    assert notices[1].message["Subject"] == "Your Roster password was reset"
    with pytest.raises(AssertionError, match="no token"):
        notices[1].token  # noqa: B018
    assert await confirm(alice.client, token, "yet-another-password") == 422


async def test_every_address_gets_the_same_answer_and_only_an_active_users_a_message(
    app: Quart, accounts: Accounts, admin: Account, client: Client, smtp: MailServer
) -> None:
    disabled = await accounts.user("Dora")
    response = await admin.client.patch(
        disabled.url, json={"status": "disabled"}, headers=admin.headers()
    )
    assert response.status_code == 200
    nobody = unique_email("nobody")
    answers = []
    for email in (admin.email, nobody, disabled.email):
        response = await client.post("/api/password-resets", json={"email": email})
        answers.append(
            (response.status_code, sorted(response.headers.keys()), await response.get_json())
        )
    for status, headers, body in answers:
        assert status == 202
        assert headers == answers[0][1]
        assert body["data"] == answers[0][2]["data"]
    await mail_for(smtp, admin.email)
    for _ in range(100):  # the other two requests are dropped by the sender
        # the reset requests, not the registrations' verification messages
        states = [state for kind, state in await outbox_states(app) if kind != "message"]
        if states == ["sent", "dropped", "dropped"]:
            break
        await asyncio.sleep(0.02)
    assert states == ["sent", "dropped", "dropped"]
    sent = [r.recipients for r in smtp.received if "password" in r.subject]
    assert sent == [[admin.email]]


async def test_a_bad_password_keeps_the_token_usable(alice: Account, smtp: MailServer) -> None:
    await ask(alice.client, alice.email)
    token = (await mail_for(smtp, alice.email))[0].token
    response = await alice.client.post(
        "/api/password-resets/confirm", json={"token": token, "password": "short"}
    )
    assert "password" in await assert_error(response, 422, "VALIDATION_ERROR")
    assert await confirm(alice.client, token) == 204


@pytest.mark.parametrize("token", ["x" * 43, "", "x" * 513])
async def test_an_unknown_token_is_one_422(client: Client, token: str) -> None:
    response = await client.post(
        "/api/password-resets/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    details = await assert_error(response, 422, "VALIDATION_ERROR")
    assert set(details) == {"token"}
    if token == "x" * 43:
        assert details == {"token": "Invalid or expired token"}


async def test_expired_spent_and_disabled_tokens_are_refused(
    app: Quart, accounts: Accounts, admin: Account, smtp: MailServer
) -> None:
    alice = await accounts.user("Alice")
    for _ in range(3):
        await ask(alice.client, alice.email)
    first, second, third = [m.token for m in await mail_for(smtp, alice.email, count=3)]
    db = runtime_of(app).db

    def expire(session: Session) -> None:
        past = datetime.now(UTC) - timedelta(seconds=1)
        expired = MailToken.token_hash == hash_token(first)  # the batch's order is the sender's
        session.execute(update(MailToken).where(expired).values(expires_at=past))
        session.commit()

    await db.write(expire)
    assert await confirm(alice.client, first) == 422  # expired
    assert await confirm(alice.client, second) == 204  # a newer request left it valid
    assert await confirm(alice.client, third) == 422  # spent by the reset
    await ask(alice.client, alice.email)
    fourth = (await mail_for(smtp, alice.email, count=5))[-1].token
    response = await admin.client.patch(
        alice.url, json={"status": "disabled"}, headers=admin.headers()
    )
    assert response.status_code == 200
    assert await confirm(alice.client, fourth) == 422


async def test_tokens_are_kept_only_as_hashes(app: Quart, alice: Account, smtp: MailServer) -> None:
    await ask(alice.client, alice.email)
    token = (await mail_for(smtp, alice.email))[0].token

    def stored(session: Session) -> list[str]:
        hashes = list(session.scalars(select(MailToken.token_hash)))
        bodies = list(session.scalars(select(MailMessage.body)))
        return [*hashes, *(b or "" for b in bodies)]

    for value in await runtime_of(app).db.write(stored):
        assert token not in value  # the hash, and the message body (dropped once sent)


async def test_too_many_requests_for_one_address_are_refused_whoever_it_is(
    alice: Account, client: Client, settings: Settings
) -> None:
    limit = settings.mail_request_rate_limit.limit
    for email in (alice.email, unique_email("nobody")):
        for _ in range(limit):
            await ask(client, email)
        response = await client.post("/api/password-resets", json={"email": email.upper()})
        await assert_error(response, 429, "RATE_LIMITED")
        assert 0 < int(response.headers["Retry-After"]) <= 3600


async def test_reset_requests_count_toward_the_client_address_limit(settings: Settings) -> None:
    """Requests for many addresses from one client address: the login limit for that client
    address counts them, and then refuses logins from there too."""
    async with serving(settings, login_address_rate_limit=RateLimit(3, 60)) as app:
        client = app.test_client()

        async def from_one_place(path: str, body: dict[str, str]) -> int:
            response = await client.post(
                path, json=body, scope_base={"client": ("198.51.100.7", 1)}
            )
            return response.status_code

        statuses = [
            await from_one_place("/api/password-resets", {"email": unique_email()})
            for _ in range(4)
        ]
        assert statuses == [202, 202, 202, 429]
        login = {"email": unique_email(), "password": PASSWORD}
        assert await from_one_place("/api/tokens", login) == 429


async def test_a_reset_ends_the_users_api_keys(
    accounts: Accounts, alice: Account, client: Client, smtp: MailServer
) -> None:
    key = await accounts.key(alice)
    await ask(client, alice.email)
    assert await confirm(client, (await mail_for(smtp, alice.email))[0].token) == 204
    response = await client.get("/api/users", headers=bearer(key))
    await assert_error(response, 401, "UNAUTHORIZED")

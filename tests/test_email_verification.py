"""Email verification (docs/API.md §6, §3, §2) through the API, delivered to a real SMTP server
on loopback by the app's own sender."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from quart import Quart
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from roster.db.models import MailMessage, MailToken
from roster.domain.credentials import hash_token
from roster.settings import MailUrl, RateLimit, Settings
from roster.testing.mailbox import MailServer, Received

from .factories import Account, Accounts
from .helpers import (
    PASSWORD,
    Client,
    Json,
    assert_envelope,
    assert_error,
    login_status,
    register,
    runtime_of,
    serving,
    unique_email,
)

VERIFY = "verify"  # in the subject of a verification message, and no other
INVALID = {"token": "Invalid or expired token"}


@pytest.fixture
def settings(settings: Settings, smtp: MailServer) -> Settings:
    """The app's mail goes to the test's SMTP server."""
    return settings.model_copy(
        update={"mail_url": MailUrl.parse(smtp.url), "mail_poll_seconds": 0.1}
    )


async def verification_for(smtp: MailServer, address: str, count: int = 1) -> Received:
    """The `count`-th verification message to `address`."""
    return (await smtp.wait_for(address, count, subject=VERIFY))[count - 1]


async def confirm(client: Client, token: str) -> tuple[int, Json]:
    response = await client.post("/api/email-verifications/confirm", json={"token": token})
    return response.status_code, await response.get_json()


async def ask(account: Account) -> int:
    response = await account.client.post("/api/email-verifications", headers=account.headers())
    if response.status_code == 202:
        assert (await assert_envelope(response))["data"] == {"status": "accepted"}
    return response.status_code


async def messages_and_tokens(app: Quart) -> tuple[int, int]:
    def count(session: Session) -> tuple[int, int]:
        messages = session.scalar(select(func.count()).select_from(MailMessage))
        tokens = session.scalar(select(func.count()).select_from(MailToken))
        return messages or 0, tokens or 0

    return await runtime_of(app).db.write(count)


async def test_registration_mails_a_token_that_verifies_the_address_once(
    alice: Account, client: Client, smtp: MailServer
) -> None:
    assert alice.user["email_verified"] is False
    message = await verification_for(smtp, alice.email)
    assert message.subject == "Verify your email address for Roster"
    assert message.link == f"http://127.0.0.1:8000/verify-email?token={message.token}"

    response = await client.post("/api/email-verifications/confirm", json={"token": message.token})
    body = await assert_envelope(response)
    assert response.status_code == 200
    assert body["data"]["email_verified"] is True
    assert body["data"]["id"] == alice.id
    assert body["data"]["updated_at"] > alice.user["updated_at"]
    assert response.headers["ETag"] != (await alice.client.get(alice.url)).headers.get("ETag")
    assert (await alice.fresh())["email_verified"] is True
    again = await client.post("/api/email-verifications/confirm", json={"token": message.token})
    assert await assert_error(again, 422, "VALIDATION_ERROR") == INVALID


async def test_the_link_follows_its_template(settings: Settings, smtp: MailServer) -> None:
    template = "https://app.example/#/verify/{token}?from=mail"
    async with serving(settings, email_verification_url=template) as app:
        user = await register(app.test_client())
        message = await verification_for(smtp, user["email"])
        assert message.link == f"https://app.example/#/verify/{message.token}?from=mail"


async def test_an_expired_token_and_an_unknown_one_are_one_422(
    app: Quart, alice: Account, client: Client, smtp: MailServer
) -> None:
    token = (await verification_for(smtp, alice.email)).token

    def expire(session: Session) -> None:
        past = datetime.now(UTC) - timedelta(seconds=1)
        expired = MailToken.token_hash == hash_token(token)
        session.execute(update(MailToken).where(expired).values(expires_at=past))
        session.commit()

    await runtime_of(app).db.write(expire)
    for sent in (token, "x" * 43):
        response = await client.post("/api/email-verifications/confirm", json={"token": sent})
        assert await assert_error(response, 422, "VALIDATION_ERROR") == INVALID
    assert (await alice.fresh())["email_verified"] is False


@pytest.mark.parametrize(
    "body", [{}, {"token": ""}, {"token": "x" * 513}, {"token": 42}, {"token": None}, []]
)
async def test_a_malformed_confirmation_is_a_422(client: Client, body: object) -> None:
    response = await client.post("/api/email-verifications/confirm", json=body)
    await assert_error(response, 422, "VALIDATION_ERROR")


@pytest.mark.parametrize("by_admin", [False, True], ids=["by-self", "by-admin"])
async def test_a_changed_email_is_unverified_mailed_and_the_old_address_told(
    accounts: Accounts, admin: Account, client: Client, smtp: MailServer, by_admin: bool
) -> None:
    alice = await accounts.user("Alice")
    first = await verification_for(smtp, alice.email)
    assert (await confirm(client, first.token))[0] == 200
    new = unique_email("moved")
    actor = admin if by_admin else alice
    response = await actor.client.put(
        alice.url, json={"name": "Alice", "email": new.upper()}, headers=actor.headers()
    )
    assert response.status_code == 200
    assert (await response.get_json())["data"]["email_verified"] is False

    notice = (await smtp.wait_for(alice.email, subject="changed"))[0]
    assert notice.subject == "Your Roster email address was changed"
    assert new in notice.body
    with pytest.raises(AssertionError, match="no token"):
        notice.token  # noqa: B018
    token = (await verification_for(smtp, new)).token
    status, body = await confirm(client, token)
    assert status == 200
    assert body["data"]["email"] == new
    assert body["data"]["email_verified"] is True


async def test_a_token_sent_to_an_old_address_verifies_nothing(
    alice: Account, client: Client, smtp: MailServer
) -> None:
    stale = (await verification_for(smtp, alice.email)).token
    new = unique_email("moved")
    response = await alice.client.patch(alice.url, json={"email": new}, headers=alice.headers())
    assert response.status_code == 200
    response = await client.post("/api/email-verifications/confirm", json={"token": stale})
    assert await assert_error(response, 422, "VALIDATION_ERROR") == INVALID
    assert (await alice.fresh())["email_verified"] is False
    await verification_for(smtp, new)  # the new address's own token is what verifies


async def test_the_same_email_again_is_no_change_and_sends_nothing(
    app: Quart, alice: Account, smtp: MailServer
) -> None:
    await verification_for(smtp, alice.email)
    before = await messages_and_tokens(app)
    for method in ("put", "patch"):
        response = await getattr(alice.client, method)(
            alice.url,
            json={"name": "Alice", "email": f"  {alice.email.upper()} "},
            headers=alice.headers(),
        )
        assert response.status_code == 200
        assert (await response.get_json())["data"]["updated_at"] == alice.user["updated_at"]
    assert await messages_and_tokens(app) == before


async def test_a_change_that_fails_sends_nothing(
    app: Quart, accounts: Accounts, alice: Account, smtp: MailServer
) -> None:
    bob = await accounts.user("Bob")
    await verification_for(smtp, bob.email)
    before = await messages_and_tokens(app)
    taken = await alice.client.patch(alice.url, json={"email": bob.email}, headers=alice.headers())
    await assert_error(taken, 409, "CONFLICT")
    stale = await alice.client.patch(
        alice.url,
        json={"email": unique_email("moved")},
        headers=alice.headers({"If-Match": '"not-the-etag"'}),
    )
    assert stale.status_code == 412
    duplicate = await alice.client.post(
        "/api/users", json={"name": "Bob", "email": bob.email, "password": PASSWORD}
    )
    await assert_error(duplicate, 409, "CONFLICT")
    assert await messages_and_tokens(app) == before
    assert [r.recipients for r in smtp.received] == [[alice.email], [bob.email]]


async def test_an_idempotent_replay_of_a_registration_mails_once(
    app: Quart, client: Client, smtp: MailServer
) -> None:
    body = {"name": "Ida", "email": unique_email("ida"), "password": PASSWORD}
    for _ in range(2):
        response = await client.post(
            "/api/users", json=body, headers={"Idempotency-Key": "register-ida"}
        )
        assert response.status_code == 201
    assert response.headers["Idempotent-Replayed"] == "true"
    await verification_for(smtp, body["email"])
    assert await messages_and_tokens(app) == (1, 1)


async def test_asking_again_sends_a_new_token_and_the_earlier_one_stays_valid(
    alice: Account, client: Client, smtp: MailServer
) -> None:
    first = (await verification_for(smtp, alice.email)).token
    assert await ask(alice) == 202
    second = (await verification_for(smtp, alice.email, count=2)).token
    assert second != first
    assert (await confirm(client, first))[0] == 200
    await assert_error(
        await alice.client.post("/api/email-verifications", headers=alice.headers()),
        409,
        "CONFLICT",
    )
    # verified: every token sent to the address is spent
    status, body = await confirm(client, second)
    assert (status, body["error"]["details"]) == (422, INVALID)


async def test_asking_needs_a_session(client: Client) -> None:
    response = await client.post("/api/email-verifications")
    await assert_error(response, 401, "UNAUTHORIZED")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_an_operators_user_is_verified_and_gets_no_mail(
    admin: Account, smtp: MailServer
) -> None:
    assert admin.user["email_verified"] is True
    response = await admin.client.post("/api/email-verifications", headers=admin.headers())
    await assert_error(response, 409, "CONFLICT")
    assert smtp.received == []


async def test_verification_requests_share_the_mail_limit_with_reset_requests(
    settings: Settings, smtp: MailServer
) -> None:
    async with serving(settings, mail_request_rate_limit=RateLimit(3, 3600)) as app:
        accounts = Accounts(app, app.test_client())
        alice = await accounts.user("Alice")
        assert [await ask(alice) for _ in range(2)] == [202, 202]
        reset = await alice.client.post("/api/password-resets", json={"email": alice.email})
        assert reset.status_code == 202
        response = await alice.client.post("/api/email-verifications", headers=alice.headers())
        await assert_error(response, 429, "RATE_LIMITED")
        assert 0 < int(response.headers["Retry-After"]) <= 3600
        await verification_for(smtp, alice.email, count=3)  # registration's, and two asked


async def test_a_password_reset_verifies_the_address(
    alice: Account, client: Client, smtp: MailServer
) -> None:
    await client.post("/api/password-resets", json={"email": alice.email})
    token = (await smtp.wait_for(alice.email, subject="password"))[0].token
    response = await client.post(
        "/api/password-resets/confirm", json={"token": token, "password": "a-new-password"}
    )
    assert response.status_code == 204
    profile = await login_and_profile(client, alice.email, "a-new-password")
    assert profile["email_verified"] is True


async def login_and_profile(client: Client, email: str, password: str) -> Json:
    response = await client.post("/api/tokens", json={"email": email, "password": password})
    assert response.status_code == 201
    token = (await response.get_json())["data"]["token"]
    profile = await client.get("/api/profile", headers={"Authorization": f"Bearer {token}"})
    data: Json = (await profile.get_json())["data"]
    return data


async def test_a_required_verification_refuses_login_after_the_password_and_status(
    settings: Settings, smtp: MailServer
) -> None:
    async with serving(settings, require_verified_email=True) as app:
        client = app.test_client()
        accounts = Accounts(app, client)
        admin = await accounts.admin()  # verified: logs in
        alice = await register(client, name="Alice")
        dora = await register(client, name="Dora")
        response = await admin.client.patch(
            f"/api/users/{dora['id']}", json={"status": "disabled"}, headers=admin.headers()
        )
        assert response.status_code == 200

        assert await login_status(client, alice["email"], "wrong-password") == 401
        refused = await client.post(
            "/api/tokens", json={"email": alice["email"], "password": PASSWORD}
        )
        await assert_error(refused, 403, "EMAIL_NOT_VERIFIED")
        disabled = await client.post(
            "/api/tokens", json={"email": dora["email"], "password": PASSWORD}
        )
        await assert_error(disabled, 403, "ACCOUNT_DISABLED")

        token = (await verification_for(smtp, alice["email"])).token
        assert (await confirm(client, token))[0] == 200
        assert await login_status(client, alice["email"], PASSWORD) == 201
        metrics = await (await client.get("/metrics")).get_data(as_text=True)
        assert 'roster_logins_total{outcome="email_not_verified"} 1.0' in metrics

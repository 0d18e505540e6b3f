"""The audit log (docs/API.md §7): each event from the request that causes it, with its exact
fields; an event if and only if its change happened; who may read what; filters and cursors;
retention; the log line and the metric."""

from __future__ import annotations

import asyncio
import itertools
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import insert, select

from roster.db.models import AuditEvent
from roster.domain.audit import purge_expired
from roster.serving.logs import JsonFormatter
from roster.settings import MailUrl, RateLimit, Settings
from roster.testing.mailbox import MailServer

from .factories import Account, Accounts
from .helpers import (
    PASSWORD,
    Client,
    Json,
    assert_error,
    bearer,
    database_session,
    runtime_of,
    serving,
    unique_email,
)

EVENT_FIELDS = {
    "id",
    "type",
    "occurred_at",
    "actor_id",
    "credential",
    "target_id",
    "client_address",
    "request_id",
    "details",
}
FORWARDED = "203.0.113.7"  # a client behind the one trusted proxy


async def events(client: Client, reader: Account | str, **query: Any) -> list[Json]:
    """The events `reader` (an admin, or a key's secret) sees, newest first (one page)."""
    token = reader if isinstance(reader, str) else reader.token
    response = await client.get("/api/audit-events", query_string=query, headers=bearer(token))
    assert response.status_code == 200, await response.get_data(as_text=True)
    data: list[Json] = (await response.get_json())["data"]
    return data


async def of_type(client: Client, admin: Account, kind: str, **query: Any) -> list[Json]:
    return await events(client, admin, type=kind, per_page=100, **query)


async def session_id(account: Account) -> int:
    """The id of the session `account`'s token is."""
    response = await account.client.get("/api/tokens", headers=account.headers())
    [current] = [found for found in (await response.get_json())["data"] if found["current"]]
    found: int = current["id"]
    return found


async def stored_events(app: Quart) -> int:
    async with database_session(app) as session:
        return len((await session.execute(select(AuditEvent.id))).all())


# Recording: each type, from its request, with its fields.


async def test_a_registration_is_recorded_with_every_field(settings: Settings) -> None:
    async with serving(settings, trusted_proxy_hops=1) as app:
        client, accounts = app.test_client(), Accounts(app, app.test_client())
        admin = await accounts.admin()
        response = await client.post(
            "/api/users",
            json={"name": "Bob", "email": unique_email(), "password": PASSWORD},
            headers={"X-Request-ID": "register-bob-1", "X-Forwarded-For": FORWARDED},
        )
        assert response.status_code == 201
        bob = (await response.get_json())["data"]
        [event] = await of_type(client, admin, "user.created", target_id=bob["id"])
    assert set(event) == EVENT_FIELDS
    assert event["actor_id"] is None
    assert event["credential"] is None
    assert event["client_address"] == FORWARDED
    assert event["request_id"] == "register-bob-1"
    assert event["details"] == {"role": "user"}
    occurred = datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))
    assert abs(occurred - datetime.now(UTC)) < timedelta(minutes=1)


async def test_an_admins_create_names_the_admin_and_the_session(
    client: Client, admin: Account
) -> None:
    body = {"name": "Carol", "email": unique_email(), "password": PASSWORD, "role": "admin"}
    response = await client.post("/api/users", json=body, headers=admin.headers())
    carol = (await response.get_json())["data"]
    [event] = await of_type(client, admin, "user.created", target_id=carol["id"])
    assert event["actor_id"] == admin.id
    assert event["credential"] == {"kind": "session", "id": await session_id(admin)}
    assert event["details"] == {"role": "admin"}


async def test_create_user_on_the_command_line_is_the_cli_credential(
    client: Client, admin: Account
) -> None:
    """The admin fixture is made as `roster create-user --admin` makes one."""
    [event] = await of_type(client, admin, "user.created", target_id=admin.id)
    assert event["credential"] == {"kind": "cli", "id": None}
    assert event["actor_id"] is None
    assert event["client_address"] is None


async def test_an_update_lists_old_and_new_values(
    client: Client, admin: Account, alice: Account
) -> None:
    response = await client.patch(alice.url, json={"name": "Ada L."}, headers=alice.headers())
    assert response.status_code == 200
    response = await client.patch(alice.url, json={"role": "admin"}, headers=admin.headers())
    assert response.status_code == 200
    by_admin, by_alice = await of_type(client, admin, "user.updated", target_id=alice.id)
    assert by_alice["details"] == {"changes": {"name": ["Alice", "Ada L."]}}
    assert by_alice["actor_id"] == alice.id
    assert by_alice["credential"] == {"kind": "session", "id": await session_id(alice)}
    assert by_admin["details"] == {"changes": {"role": ["user", "admin"]}}
    assert by_admin["actor_id"] == admin.id


async def test_a_patch_of_two_fields_lists_only_the_one_that_changed(
    client: Client, admin: Account, alice: Account
) -> None:
    """The hot path's event is built by the database (SQLite's JSON functions, PostgreSQL's
    jsonb): a field sent with its current value is not a change, and any text survives."""
    hostile = 'Ada "the first" \\ Lovelace \u00e9\u4e2d\U0001f600 </script>'
    both = {"name": "Alice", "role": "admin"}
    assert (await client.patch(alice.url, json=both, headers=admin.headers())).status_code == 200
    both = {"name": hostile, "role": "admin"}
    assert (await client.patch(alice.url, json=both, headers=admin.headers())).status_code == 200
    renamed, promoted = await of_type(client, admin, "user.updated", target_id=alice.id)
    assert promoted["details"] == {"changes": {"role": ["user", "admin"]}}
    assert renamed["details"] == {"changes": {"name": ["Alice", hostile]}}


async def test_a_put_with_several_changes_is_one_event(
    client: Client, admin: Account, alice: Account
) -> None:
    new_email = unique_email("ada")
    body = {"name": "Ada", "email": new_email, "password": "another-password", "role": "user"}
    response = await client.put(alice.url, json=body, headers=admin.headers())
    assert response.status_code == 200
    [event] = await of_type(client, admin, "user.updated", target_id=alice.id)
    assert event["details"] == {
        "changes": {
            "name": ["Alice", "Ada"],
            "email": [alice.email, new_email],
            "password": ["***", "***"],
        }
    }


async def test_a_password_change_ends_sessions_and_keys_with_events(
    client: Client, accounts: Accounts, admin: Account, alice: Account
) -> None:
    other = await client.post("/api/tokens", json={"email": alice.email, "password": PASSWORD})
    other_id = (await other.get_json())["data"]["id"]
    secret = await accounts.key(alice, "users:read", "profile:read")
    [created] = await of_type(client, admin, "key.created", target_id=alice.id)
    response = await client.patch(
        alice.url, json={"password": "a-new-password"}, headers=alice.headers()
    )
    assert response.status_code == 200
    [updated] = await of_type(client, admin, "user.updated", target_id=alice.id)
    assert updated["details"] == {"changes": {"password": ["***", "***"]}}
    [ended] = await of_type(client, admin, "session.ended", target_id=alice.id)
    assert ended["details"] == {"session_ids": [other_id], "reason": "password_changed"}
    [revoked] = await of_type(client, admin, "key.revoked", target_id=alice.id)
    assert revoked["details"] == {**created["details"], "reason": "password_changed"}
    assert created["details"]["scopes"] == ["users:read", "profile:read"]
    assert created["details"]["prefix"] == secret[:9]
    shown = str(await events(client, admin, per_page=100))
    for secret_value in (secret, alice.token, "a-new-password", PASSWORD):
        assert secret_value not in shown


async def test_disabling_ends_every_session_and_key_with_events(
    client: Client, accounts: Accounts, admin: Account, alice: Account
) -> None:
    await accounts.key(alice)
    alice_session = await session_id(alice)
    response = await client.patch(alice.url, json={"status": "disabled"}, headers=admin.headers())
    assert response.status_code == 200
    [updated] = await of_type(client, admin, "user.updated", target_id=alice.id)
    assert updated["details"] == {"changes": {"status": ["active", "disabled"]}}
    [ended] = await of_type(client, admin, "session.ended", target_id=alice.id)
    assert ended["details"] == {"session_ids": [alice_session], "reason": "disabled"}
    [revoked] = await of_type(client, admin, "key.revoked", target_id=alice.id)
    assert revoked["details"]["reason"] == "disabled"
    assert revoked["actor_id"] == admin.id


async def test_a_deletion_is_recorded_with_the_email(
    client: Client, admin: Account, alice: Account
) -> None:
    response = await client.delete(alice.url, headers=alice.headers())
    assert response.status_code == 204
    [event] = await of_type(client, admin, "user.deleted", target_id=alice.id)
    assert event["details"] == {"email": alice.email}
    assert event["actor_id"] == alice.id
    assert await of_type(client, admin, "session.ended", target_id=alice.id) == []


async def test_logins_are_recorded_whatever_their_outcome(
    client: Client, admin: Account, alice: Account
) -> None:
    [first] = await of_type(client, admin, "login.succeeded", target_id=alice.id)
    assert first["details"] == {"session_id": await session_id(alice)}
    assert first["actor_id"] is None
    assert first["credential"] is None
    wrong = {"email": alice.email, "password": "not-her-password"}
    assert (await client.post("/api/tokens", json=wrong)).status_code == 401
    unknown = {"email": unique_email("nobody"), "password": PASSWORD}
    assert (await client.post("/api/tokens", json=unknown)).status_code == 401
    [anonymous, named] = await of_type(client, admin, "login.failed")
    assert named["target_id"] == alice.id
    assert named["details"] == {"reason": "bad_credentials"}
    assert anonymous["target_id"] is None  # the email is not recorded: it named no user
    assert anonymous["details"] == {"reason": "bad_credentials"}
    response = await client.patch(alice.url, json={"status": "disabled"}, headers=admin.headers())
    assert response.status_code == 200
    body = {"email": alice.email, "password": PASSWORD}
    assert (await client.post("/api/tokens", json=body)).status_code == 403
    disabled = (await of_type(client, admin, "login.failed", target_id=alice.id))[0]
    assert disabled["details"] == {"reason": "disabled"}


async def test_an_unverified_login_is_recorded(settings: Settings) -> None:
    async with serving(settings, require_verified_email=True) as app:
        client, accounts = app.test_client(), Accounts(app, app.test_client())
        admin = await accounts.admin()
        email = unique_email()
        body = {"name": "Una", "email": email, "password": PASSWORD}
        assert (await client.post("/api/users", json=body)).status_code == 201
        response = await client.post("/api/tokens", json={"email": email, "password": PASSWORD})
        assert response.status_code == 403
        [event] = await of_type(client, admin, "login.failed")
        assert event["details"] == {"reason": "unverified"}


async def test_a_rate_limited_login_is_recorded(settings: Settings) -> None:
    async with serving(settings, login_rate_limit=RateLimit(1, 60)) as app:
        client, accounts = app.test_client(), Accounts(app, app.test_client())
        admin = await accounts.admin()
        body = {"email": unique_email("victim"), "password": "guess-number-one"}
        statuses = [(await client.post("/api/tokens", json=body)).status_code for _ in range(2)]
        assert statuses == [401, 429]
        limited, refused = await of_type(client, admin, "login.failed")
        assert limited["details"] == {"reason": "rate_limited"}
        assert refused["details"] == {"reason": "bad_credentials"}


async def test_sessions_ended_by_logout_by_the_user_and_by_eviction(
    settings: Settings,
) -> None:
    async with serving(settings, max_tokens_per_user=2) as app:
        client, accounts = app.test_client(), Accounts(app, app.test_client())
        admin, alice = await accounts.admin(), await accounts.user()
        first = await session_id(alice)
        body = {"email": alice.email, "password": PASSWORD}
        second = (await (await client.post("/api/tokens", json=body)).get_json())["data"]
        third = (await (await client.post("/api/tokens", json=body)).get_json())["data"]
        [evicted] = await of_type(client, admin, "session.ended", target_id=alice.id)
        assert evicted["details"] == {"session_ids": [first], "reason": "evicted"}
        response = await client.delete(
            f"/api/tokens/{second['id']}", headers=bearer(third["token"])
        )
        assert response.status_code == 204
        response = await client.delete("/api/tokens/current", headers=bearer(third["token"]))
        assert response.status_code == 204
        logout, ended, _ = await of_type(client, admin, "session.ended", target_id=alice.id)
        assert ended["details"] == {"session_ids": [second["id"]], "reason": "ended"}
        assert logout["details"] == {"session_ids": [third["id"]], "reason": "logout"}
        assert logout["credential"] == {"kind": "session", "id": third["id"]}


async def test_keys_created_and_revoked_by_owner_and_admin(
    client: Client, accounts: Accounts, admin: Account, alice: Account
) -> None:
    await accounts.key(alice, name="one")
    await accounts.key(alice, name="two")
    second, first = await of_type(client, admin, "key.created", target_id=alice.id)
    response = await client.delete(
        f"/api/keys/{first['details']['key_id']}", headers=alice.headers()
    )
    assert response.status_code == 204
    key_id = second["details"]["key_id"]
    response = await client.delete(f"/api/users/{alice.id}/keys/{key_id}", headers=admin.headers())
    assert response.status_code == 204
    by_admin, by_owner = await of_type(client, admin, "key.revoked", target_id=alice.id)
    assert by_owner["details"] == {**first["details"], "reason": "revoked"}
    assert by_owner["actor_id"] == alice.id
    assert by_admin["actor_id"] == admin.id
    assert set(by_admin["details"]) == {"key_id", "prefix", "scopes", "reason"}


async def test_a_key_is_the_credential_of_what_it_does(
    client: Client, accounts: Accounts, admin: Account, alice: Account
) -> None:
    secret = await accounts.key(alice, "users:write")
    [created] = await of_type(client, admin, "key.created", target_id=alice.id)
    response = await client.patch(alice.url, json={"name": "By Key"}, headers=bearer(secret))
    assert response.status_code == 200
    [event] = await of_type(client, admin, "user.updated", target_id=alice.id)
    assert event["credential"] == {"kind": "key", "id": created["details"]["key_id"]}


@pytest.fixture
def mailed(settings: Settings, smtp: MailServer) -> Settings:
    return settings.model_copy(
        update={"mail_url": MailUrl.parse(smtp.url), "mail_poll_seconds": 0.1}
    )


async def test_verification_and_reset_events(mailed: Settings, smtp: MailServer) -> None:
    async with serving(mailed, trusted_proxy_hops=1) as app:
        client, accounts = app.test_client(), Accounts(app, app.test_client())
        admin, alice = await accounts.admin(), await accounts.user()
        [verify] = await smtp.wait_for(alice.email, 1, subject="verify")
        response = await client.post(
            "/api/email-verifications/confirm", json={"token": verify.token}
        )
        assert response.status_code == 200
        [verified] = await of_type(client, admin, "email.verified", target_id=alice.id)
        assert verified["details"] == {"email": alice.email}
        assert verified["actor_id"] is None
        asked = await client.post(
            "/api/password-resets",
            json={"email": alice.email},
            headers={"X-Request-ID": "ask-1", "X-Forwarded-For": FORWARDED},
        )
        assert asked.status_code == 202
        nobody = await client.post("/api/password-resets", json={"email": unique_email("no")})
        assert nobody.status_code == 202
        [reset_mail] = await smtp.wait_for(alice.email, 1, subject="password")
        [requested] = await of_type(client, admin, "password.reset_requested")
        assert requested["target_id"] == alice.id
        assert requested["details"] == {}
        assert requested["request_id"] == "ask-1"
        assert requested["client_address"] == FORWARDED
        body = {"token": reset_mail.token, "password": "a-brand-new-password"}
        response = await client.post("/api/password-resets/confirm", json=body)
        assert response.status_code == 204
        [reset] = await of_type(client, admin, "password.reset", target_id=alice.id)
        assert reset["details"] == {}
        [ended] = await of_type(client, admin, "session.ended", target_id=alice.id)
        assert ended["details"]["reason"] == "password_reset"
        # verified already: the reset verifies nothing new
        assert len(await of_type(client, admin, "email.verified", target_id=alice.id)) == 1
        assert verify.token not in str(await events(client, admin, per_page=100))
        # A reset of an unverified account verifies its address too: both events.
        bob = await accounts.user("Bob")
        assert (
            await client.post("/api/password-resets", json={"email": bob.email})
        ).status_code == 202
        [bob_mail] = await smtp.wait_for(bob.email, 1, subject="password")
        body = {"token": bob_mail.token, "password": "another-new-password"}
        assert (await client.post("/api/password-resets/confirm", json=body)).status_code == 204
        kinds = [event["type"] for event in await events(client, admin, target_id=bob.id)]
        assert kinds[:3] == ["session.ended", "email.verified", "password.reset"]


# If and only if the change happened.


async def test_refused_and_empty_changes_write_no_event(
    app: Quart, client: Client, admin: Account, alice: Account
) -> None:
    before = await stored_events(app)
    same = await client.patch(alice.url, json={"name": "Alice"}, headers=alice.headers())
    assert same.status_code == 200
    stale = await client.patch(
        alice.url, json={"name": "Late"}, headers=alice.headers({"If-Match": '"stale"'})
    )
    assert stale.status_code == 412
    taken = await client.patch(alice.url, json={"email": admin.email}, headers=alice.headers())
    assert taken.status_code == 409
    invalid = await client.patch(alice.url, json={"name": ""}, headers=alice.headers())
    assert invalid.status_code == 422
    forbidden = await client.patch(alice.url, json={"role": "admin"}, headers=alice.headers())
    assert forbidden.status_code == 403
    duplicate = {"name": "Twin", "email": alice.email, "password": PASSWORD}
    assert (await client.post("/api/users", json=duplicate)).status_code == 409
    assert await stored_events(app) == before


async def test_an_idempotent_replay_records_once(client: Client, admin: Account) -> None:
    body = {"name": "Once", "email": unique_email(), "password": PASSWORD}
    headers = {"Idempotency-Key": "create-once"}
    first = await client.post("/api/users", json=body, headers=headers)
    replayed = await client.post("/api/users", json=body, headers=headers)
    assert (first.status_code, replayed.status_code) == (201, 201)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    user_id = (await first.get_json())["data"]["id"]
    assert len(await of_type(client, admin, "user.created", target_id=user_id)) == 1


async def test_a_race_records_one_event_per_change_that_won(
    client: Client, admin: Account, alice: Account
) -> None:
    names = [f"Racer {n}" for n in range(8)]
    responses = await asyncio.gather(
        *(client.patch(alice.url, json={"name": name}, headers=alice.headers()) for name in names)
    )
    assert all(response.status_code == 200 for response in responses)
    updates = await of_type(client, admin, "user.updated", target_id=alice.id)
    # In the order the changes were made (ids: taken under the row's lock; `occurred_at` is
    # when each request began to write, before it waited for the lock).
    in_order = sorted(updates, key=lambda event: event["id"])
    chain = [event["details"]["changes"]["name"] for event in in_order]
    assert chain[0][0] == "Alice"
    for (_old, new), (next_old, _new) in itertools.pairwise(chain):
        assert new == next_old  # each event saw the value the one before it wrote
    assert chain[-1][1] == (await alice.fresh())["name"]
    deletions = await asyncio.gather(
        *(client.delete(alice.url, headers=admin.headers()) for _ in range(4))
    )
    assert sorted(response.status_code for response in deletions) == [204, 404, 404, 404]
    assert len(await of_type(client, admin, "user.deleted", target_id=alice.id)) == 1


# Reading: who may, filters, cursors.


async def test_only_admins_and_audit_keys_read_the_log(
    client: Client, accounts: Accounts, admin: Account, alice: Account
) -> None:
    await assert_error(
        await client.get("/api/audit-events", headers=alice.headers()), 403, "FORBIDDEN"
    )
    await assert_error(await client.get("/api/audit-events"), 401, "UNAUTHORIZED")
    reader = await accounts.key(admin, "audit:read")
    assert len(await events(client, reader)) > 0
    no_scope = await accounts.key(admin, "users:read")
    response = await client.get("/api/audit-events", headers=bearer(no_scope))
    await assert_error(response, 403, "INSUFFICIENT_SCOPE")
    assert response.headers["WWW-Authenticate"].endswith('scope="audit:read"')


async def test_a_users_own_log_shows_only_their_events(
    client: Client, accounts: Accounts, admin: Account, alice: Account
) -> None:
    bob = await accounts.user("Bob")
    response = await client.patch(alice.url, json={"name": "Ada"}, headers=admin.headers())
    assert response.status_code == 200
    response = await client.get("/api/profile/audit-events", headers=alice.headers())
    assert response.status_code == 200
    own = (await response.get_json())["data"]
    assert [event["type"] for event in own] == ["user.updated", "login.succeeded", "user.created"]
    assert all(alice.id in (event["actor_id"], event["target_id"]) for event in own)
    assert bob.id not in {event["target_id"] for event in own}
    reader = await accounts.key(alice, "profile:read")
    by_key = await client.get("/api/profile/audit-events", headers=bearer(reader))
    assert [event["id"] for event in (await by_key.get_json())["data"]][1:] == [
        event["id"] for event in own
    ]  # and the key's own creation first
    other_scope = await accounts.key(alice, "users:read")
    response = await client.get("/api/profile/audit-events", headers=bearer(other_scope))
    await assert_error(response, 403, "INSUFFICIENT_SCOPE")


async def test_an_event_where_one_is_actor_and_target_shows_once(
    client: Client, alice: Account
) -> None:
    response = await client.patch(alice.url, json={"name": "Self"}, headers=alice.headers())
    assert response.status_code == 200
    response = await client.get("/api/profile/audit-events", headers=alice.headers())
    ids = [event["id"] for event in (await response.get_json())["data"]]
    assert len(ids) == len(set(ids)) == 3


async def test_filters(client: Client, admin: Account, alice: Account) -> None:
    response = await client.patch(alice.url, json={"name": "Filtered"}, headers=alice.headers())
    assert response.status_code == 200
    everything = await events(client, admin, per_page=100)
    assert everything == sorted(
        everything, key=lambda event: (event["occurred_at"], event["id"]), reverse=True
    )
    kinds = await events(client, admin, type="user.updated,login.succeeded", per_page=100)
    assert {event["type"] for event in kinds} == {"user.updated", "login.succeeded"}
    assert len(kinds) == sum(
        1 for event in everything if event["type"] in ("user.updated", "login.succeeded")
    )
    by_actor = await events(client, admin, actor_id=alice.id)
    assert [event["type"] for event in by_actor] == ["user.updated"]
    by_target = await events(client, admin, target_id=alice.id)
    assert {event["target_id"] for event in by_target} == {alice.id}
    newest = everything[0]["occurred_at"]
    assert await events(client, admin, since=newest) == [everything[0]] + [
        event for event in everything[1:] if event["occurred_at"] == newest
    ]
    older = await events(client, admin, until=newest, per_page=100)
    assert everything[0] not in older
    assert len(older) == len([event for event in everything if event["occurred_at"] < newest])
    ignored = await events(client, admin, per_page=100, page=3, sort="name", whatever="x")
    assert ignored == everything


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"type": "user.exploded"}, "type"),
        ({"type": "user.created,"}, "type"),
        ({"actor_id": "me"}, "actor_id"),
        ({"target_id": "0"}, "target_id"),
        ({"since": "yesterday"}, "since"),
        ({"until": "1700000000"}, "until"),
        ({"since": "2026-12-06T10:00:00"}, "since"),  # no offset: not RFC 3339
        ({"per_page": "101"}, "per_page"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "abc.def"}, "cursor"),
    ],
)
async def test_malformed_filters_are_422_naming_the_parameter(
    client: Client, admin: Account, query: dict[str, str], field: str
) -> None:
    response = await client.get("/api/audit-events", query_string=query, headers=admin.headers())
    details = await assert_error(response, 422, "VALIDATION_ERROR")
    assert field in details


async def test_cursors_walk_every_event_once_while_events_are_appended(
    client: Client, accounts: Accounts, admin: Account
) -> None:
    for n in range(5):
        await accounts.user(f"User {n}")
    expected = [event["id"] for event in await events(client, admin, per_page=100)]
    seen: list[int] = []
    response = await client.get(
        "/api/audit-events", query_string={"per_page": 3}, headers=admin.headers()
    )
    while True:
        body = await response.get_json()
        seen += [event["id"] for event in body["data"]]
        assert body["meta"]["per_page"] == 3
        assert "total" not in body["meta"]
        await accounts.user("Appended")  # newer events: before the cursor, never in the walk
        if body["meta"]["next_cursor"] is None:
            assert "Link" not in response.headers
            break
        link = response.headers["Link"]
        assert link.endswith('>; rel="next"')
        response = await client.get(link[1 : link.index(">")], headers=admin.headers())
        assert response.status_code == 200
    assert seen == expected


async def test_a_cursor_keeps_its_filters(
    client: Client, accounts: Accounts, admin: Account
) -> None:
    for n in range(3):
        await accounts.user(f"User {n}")
    response = await client.get(
        "/api/audit-events",
        query_string={"type": "user.created", "per_page": 1},
        headers=admin.headers(),
    )
    cursor = (await response.get_json())["meta"]["next_cursor"]
    following = await events(client, admin, cursor=cursor, per_page=100)
    assert {event["type"] for event in following} == {"user.created"}
    response = await client.get(
        "/api/audit-events",
        query_string={"cursor": cursor, "type": "login.failed"},
        headers=admin.headers(),
    )
    await assert_error(response, 422, "VALIDATION_ERROR")
    own = await client.get(
        "/api/profile/audit-events", query_string={"cursor": cursor}, headers=admin.headers()
    )
    await assert_error(own, 422, "VALIDATION_ERROR")


# Retention, the log line, the metric.


async def test_retention_removes_only_old_events_in_batches(
    app: Quart, client: Client, admin: Account
) -> None:
    now = datetime.now(UTC)
    kept = await events(client, admin, per_page=100)
    old = [
        {"type": "login.failed", "occurred_at": now - timedelta(days=401, seconds=n), "details": {}}
        for n in range(2500)
    ]
    async with database_session(app) as session:
        await session.execute(insert(AuditEvent), old)
        await session.commit()
    assert await stored_events(app) == len(kept) + 2500
    removed = await purge_expired(runtime_of(app).db, 400, now)
    assert removed == 2500
    assert await events(client, admin, per_page=100) == kept
    assert await stored_events(app) == len(kept)


async def test_each_event_is_one_json_log_line(
    client: Client, admin: Account, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="roster.audit")
    body = {"name": "Logged", "email": unique_email(), "password": PASSWORD}
    await client.post("/api/users", json=body, headers={"X-Request-ID": "logged-1"})
    [record] = [found for found in caplog.records if found.name == "roster.audit"]
    line = JsonFormatter().format(record)
    assert '"audit_event":true' in line
    assert '"type":"user.created"' in line
    assert '"request_id":"logged-1"' in line
    assert PASSWORD not in line


async def test_audit_events_are_counted_by_type(settings: Settings) -> None:
    async with serving(settings, metrics_enabled=True) as app:
        client, accounts = app.test_client(), Accounts(app, app.test_client())
        await accounts.user()
        exposition = await (await client.get("/metrics")).get_data(as_text=True)
        assert 'roster_audit_events_total{type="user.created"} 1.0' in exposition
        assert 'roster_audit_events_total{type="login.succeeded"} 1.0' in exposition

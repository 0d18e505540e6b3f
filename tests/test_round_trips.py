"""PostgreSQL: the round trips each request makes. An authenticated read is one — no ping at
checkout, no BEGIN or ROLLBACK around it (it was four) — and a list page one too (the caller's
statement carries the page with its total; a filtered page three), counted on every asyncpg
connection Roster opens."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from roster.db.postgresql import PostgreSQLDatabase

from .conftest import BACKEND
from .factories import Account, Accounts
from .helpers import runtime_of

pytestmark = pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL round trips")


class Statements:
    """Every message asyncpg writes to the server on the engines given: each write is one
    round trip (a BEGIN, a ping, a ROLLBACK, a Parse, a Bind/Execute each are one)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def watch(self, engine: AsyncEngine) -> None:
        @event.listens_for(engine.sync_engine, "connect")
        def _connected(dbapi_connection: Any, _record: Any) -> None:
            transport = dbapi_connection.driver_connection._transport
            write = transport.write

            def counted(data: bytes) -> None:
                self.sent.append(bytes(data)[:1].decode("latin-1") + repr(bytes(data)[:60]))
                write(data)

            transport.write = counted


@pytest.fixture
async def statements(app: Any, alice: Account) -> Statements:
    """Watching every engine, from new connections on (the pooled ones are closed)."""
    counted = Statements()
    db = runtime_of(app).db
    assert isinstance(db, PostgreSQLDatabase)
    for engine in [db.engine]:
        counted.watch(engine)
        await engine.dispose()
    return counted


async def sent_by(statements: Statements, alice: Account, path: str) -> list[str]:
    await alice.client.get(path, headers=alice.headers())  # warm: connections, statements
    start = len(statements.sent)
    response = await alice.client.get(path, headers=alice.headers())
    assert response.status_code == 200
    return statements.sent[start:]


async def test_an_authenticated_read_is_one_round_trip(
    statements: Statements, alice: Account
) -> None:
    sent = await sent_by(statements, alice, alice.url)
    assert len(sent) == 1, sent


async def test_a_read_with_an_api_key_is_one_round_trip(
    statements: Statements, accounts: Accounts, alice: Account
) -> None:
    key = await accounts.key(alice, "users:read")
    as_key = Account(alice.client, alice.user, key)  # the key in the bearer header
    sent = await sent_by(statements, as_key, alice.url)
    assert len(sent) == 1, sent


async def test_a_list_page_is_one_round_trip(statements: Statements, alice: Account) -> None:
    """The caller and the page, with the maintained total beside its rows, in one statement:
    by any order, and by a key (its owner's scopes in the same row)."""
    for path in ("/api/users", "/api/users?sort=-created_at&per_page=5"):
        sent = await sent_by(statements, alice, path)
        assert len(sent) == 1, (path, sent)


async def test_a_list_page_by_key_is_one_round_trip(
    statements: Statements, accounts: Accounts, alice: Account
) -> None:
    key = await accounts.key(alice, "users:read")
    sent = await sent_by(statements, Account(alice.client, alice.user, key), "/api/users")
    assert len(sent) == 1, sent


async def test_a_list_page_past_its_end_asks_the_counts(
    statements: Statements, alice: Account
) -> None:
    """The caller with an empty page, then the total from the maintained counts (the page is
    not read again)."""
    sent = await sent_by(statements, alice, "/api/users?page=3&per_page=100")
    assert len(sent) == 2, sent


async def test_a_filtered_list_page_is_three_round_trips(
    statements: Statements, alice: Account
) -> None:
    """The caller, the maintained counts (which branches to walk), the page."""
    sent = await sent_by(statements, alice, "/api/users?role=user")
    assert len(sent) == 3, sent


async def test_a_patch_of_ones_own_name_is_two_round_trips(
    statements: Statements, alice: Account
) -> None:
    """The caller (with the user), then one statement in autocommit that locks the row, updates
    it and records the audit event: no BEGIN, no separate locked read, no COMMIT."""
    for name in ("Warm", "Alice Two"):  # the first warms connections and statements
        start = len(statements.sent)
        response = await alice.client.patch(alice.url, json={"name": name}, headers=alice.headers())
        assert response.status_code == 200
        assert (await response.get_json())["data"]["name"] == name
    sent = statements.sent[start:]
    assert len(sent) == 2, sent


async def test_a_patch_with_if_match_locks_the_user_first(
    statements: Statements, alice: Account
) -> None:
    """With a precondition to check, the write is a transaction: BEGIN, the locked read, the
    UPDATE, its audit event, COMMIT, after the caller."""
    for name in ("Warm", "Checked"):  # the first warms connections and statements
        etag = (await alice.client.get(alice.url, headers=alice.headers())).headers["ETag"]
        start = len(statements.sent)
        headers = alice.headers() | {"If-Match": etag}
        response = await alice.client.patch(alice.url, json={"name": name}, headers=headers)
        assert response.status_code == 200
    assert len(statements.sent[start:]) == 6, statements.sent[start:]


async def test_a_page_of_the_audit_log_is_two_round_trips(
    statements: Statements, admin: Account
) -> None:
    """The caller, then the page: index walks that stop at the page's end, one statement."""
    for path in ("/api/audit-events", "/api/audit-events?type=user.created,login.succeeded"):
        sent = await sent_by(statements, admin, path)
        assert len(sent) == 2, sent


async def test_an_audit_page_whose_walk_may_be_long_is_bounded_in_time(
    statements: Statements, admin: Account
) -> None:
    """Two keyed filters (a walk by one, the other checked on the way): a transaction whose
    statements stop at the quick lane's time (BEGIN, its limits, the page, COMMIT)."""
    sent = await sent_by(statements, admin, f"/api/audit-events?actor_id=1&target_id={admin.id}")
    assert len(sent) > 2, sent
    assert any("COMMIT" in statement for statement in sent), sent  # a transaction of its own

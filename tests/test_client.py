"""roster-client against a real server (the plugin's `roster_server`): every route of
docs/API.md through the client, its exceptions, ETags, cursors, and retries that never make
two users."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from roster_client import (
    AccountDisabled,
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    QueryTooExpensive,
    Retries,
    RosterClient,
    ServiceUnavailable,
    TransportError,
    Unauthorized,
    User,
    ValidationFailed,
)

from roster.testing.plugin import Factory, RosterServer

pytestmark = pytest.mark.e2e


def email() -> str:
    return f"client-{uuid.uuid4().hex[:12]}@example.com"


async def test_register_login_profile_and_logout(roster: RosterClient) -> None:
    address = email()
    created = await roster.users.create("Ada", address, "a long password")
    assert isinstance(created, User)
    assert created.etag is not None
    assert created.email == address
    token = await roster.login(address, "a long password", label="laptop")
    assert token.token_type == "Bearer"
    me = await roster.profile()
    assert me.id == created.id
    (session,) = await roster.sessions.list()
    assert session.label == "laptop"
    assert session.current
    await roster.logout()
    with pytest.raises(Unauthorized) as raised:
        await roster.profile()
    assert raised.value.status == 401
    assert raised.value.request_id


async def test_errors_carry_status_code_message_details_and_request_id(
    roster: RosterClient, roster_user: Factory
) -> None:
    ada = await roster_user(name="Ada")
    with pytest.raises(Conflict) as raised:
        await roster.users.create("Twin", ada.user.email, "a long password")
    error = raised.value
    assert (error.status, error.code) == (409, "CONFLICT")
    assert error.details == {"email": "Already registered"}
    assert error.message
    assert error.request_id
    with pytest.raises(ValidationFailed) as invalid:
        await roster.users.create("", "not-an-email", "short")
    assert {"name", "email", "password"} <= set(invalid.value.details)
    with pytest.raises(NotFound):
        await ada.client.users.get(2**62)
    other = await roster_user(name="Other")
    with pytest.raises(Forbidden):
        await ada.client.users.update(other.user.id, name="Not yours")


async def test_update_replace_and_delete_send_the_etag_they_read(
    roster_user: Factory,
) -> None:
    ada = await roster_user(name="Ada")
    mine = await ada.client.users.get(ada.user.id)
    renamed = await ada.client.users.update(mine, name="Ada L.")
    assert renamed.name == "Ada L."
    assert renamed.etag != mine.etag
    with pytest.raises(PreconditionFailed):
        await ada.client.users.update(mine, name="From a stale copy")  # mine is stale now
    same = await ada.client.users.get(renamed)  # revalidated: 304, the same object back
    assert same is renamed
    replaced = await ada.client.users.replace(renamed, name="Ada Lovelace", email=ada.user.email)
    assert replaced.name == "Ada Lovelace"
    with pytest.raises(PreconditionFailed):
        await ada.client.users.delete(renamed)
    await ada.client.users.delete(replaced)
    with pytest.raises(Unauthorized):
        await ada.client.profile()  # deleting ends the user's sessions


async def test_iterate_walks_every_match_through_cursors(
    roster: RosterClient, roster_admin: Factory
) -> None:
    admin = await roster_admin()
    tag = uuid.uuid4().hex[:8]
    made = [
        await roster.users.create(f"Walker {tag} {index:02}", email(), "a long password")
        for index in range(23)
    ]
    walked = [user async for user in admin.client.users.iterate(q=tag, sort="-name", per_page=5)]
    assert [user.id for user in walked] == [user.id for user in reversed(made)]
    page = await admin.client.users.list(q=tag, per_page=5)
    assert (page.total, page.pages, page.page) == (23, 5, 1)
    after = await admin.client.users.list(cursor=page.next_cursor)
    assert after.total is None
    assert after.per_page == 5


async def test_sessions_end_one_the_others_and_all(
    roster_user: Factory, roster: RosterClient
) -> None:
    ada = await roster_user()
    await roster.login(ada.user.email, ada.password, label="phone")
    phone = next(s for s in await ada.client.sessions.list() if s.label == "phone")
    await ada.client.sessions.end(phone)
    with pytest.raises(Unauthorized):
        await roster.profile()
    await roster.login(ada.user.email, ada.password)
    await ada.client.sessions.end_others()
    with pytest.raises(Unauthorized):
        await roster.profile()
    assert len(await ada.client.sessions.list()) == 1
    await ada.client.sessions.end_all(ada.user)
    with pytest.raises(Unauthorized):
        await ada.client.profile()


async def test_admins_manage_status_and_other_users_sessions(
    roster_user: Factory, roster_admin: Factory, roster: RosterClient
) -> None:
    ada, admin = await roster_user(), await roster_admin()
    assert len(await admin.client.sessions.list(ada.user)) == 1
    await admin.client.users.update(ada.user.id, status="disabled")
    with pytest.raises(Unauthorized):
        await ada.client.profile()
    with pytest.raises(AccountDisabled) as raised:
        await roster.login(ada.user.email, ada.password)
    assert raised.value.status == 403


async def test_a_costly_list_is_its_own_exception() -> None:
    assert issubclass(QueryTooExpensive, ValidationFailed)
    assert QueryTooExpensive.code == "QUERY_TOO_EXPENSIVE"


# --- retries ---------------------------------------------------------------------------------


class LoseFirstResponses(httpx.AsyncBaseTransport):
    """Sends each request on, but for the first `lose` requests drops the response, as a
    network that fails after the server has done the work."""

    def __init__(self, inner: httpx.AsyncBaseTransport, lose: int) -> None:
        self.inner, self.lose, self.sent = inner, lose, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent += 1
        response = await self.inner.handle_async_request(request)
        if self.sent <= self.lose:
            await response.aclose()
            raise httpx.ReadError("connection reset after the request was sent", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_create_retried_after_a_lost_response_makes_one_user(
    roster_server: RosterServer, roster_admin: Factory
) -> None:
    admin = await roster_admin()
    lossy = LoseFirstResponses(httpx.AsyncHTTPTransport(), lose=2)
    fast = Retries(attempts=4, backoff=0.01)
    async with RosterClient(roster_server.base_url, transport=lossy, retries=fast) as client:
        address = email()
        created = await client.users.create("Once", address, "a long password")
    assert lossy.sent == 3  # two responses lost, the third a replay
    found = await admin.client.users.list(q=address)
    assert [user.id for user in found.users] == [created.id]


async def test_a_login_is_not_retried_once_it_may_have_reached_the_server(
    roster_server: RosterServer, roster_user: Factory
) -> None:
    ada = await roster_user()
    lossy = LoseFirstResponses(httpx.AsyncHTTPTransport(), lose=1)
    async with RosterClient(roster_server.base_url, transport=lossy) as client:
        with pytest.raises(TransportError):
            await client.login(ada.user.email, ada.password)
    assert lossy.sent == 1


class Scripted(httpx.AsyncBaseTransport):
    """Answers from a script of responses, then from the real server."""

    def __init__(self, inner: httpx.AsyncBaseTransport, script: list[httpx.Response]) -> None:
        self.inner, self.script, self.calls = inner, script, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.script:
            return self.script.pop(0)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def unavailable(status: int, code: str, retry_after: str) -> httpx.Response:
    body = {"error": {"code": code, "message": "later", "details": {}}, "meta": {"request_id": "x"}}
    return httpx.Response(status, json=body, headers={"Retry-After": retry_after})


async def test_503_and_429_are_retried_after_retry_after(
    roster_server: RosterServer, roster_user: Factory
) -> None:
    ada = await roster_user()
    script = [unavailable(503, "SERVICE_UNAVAILABLE", "0"), unavailable(429, "RATE_LIMITED", "0")]
    scripted = Scripted(httpx.AsyncHTTPTransport(), script)
    async with RosterClient(
        roster_server.base_url, transport=scripted, retries=Retries(backoff=0.01)
    ) as client:
        await client.login(ada.user.email, ada.password)
    assert scripted.calls == 3


async def test_retries_are_bounded_and_then_raise_with_retry_after(
    roster_server: RosterServer,
) -> None:
    script = [unavailable(503, "SERVICE_UNAVAILABLE", "0") for _ in range(3)]
    scripted = Scripted(httpx.AsyncHTTPTransport(), script)
    async with RosterClient(
        roster_server.base_url, transport=scripted, retries=Retries(attempts=3, backoff=0.01)
    ) as client:
        with pytest.raises(ServiceUnavailable) as raised:
            await client.profile()
    assert scripted.calls == 3
    assert raised.value.retry_after == 0.0


async def test_connection_refused_is_retried_then_a_transport_error() -> None:
    async with RosterClient(
        "http://127.0.0.1:9", retries=Retries(attempts=2, backoff=0.01), timeout=2
    ) as client:
        with pytest.raises(TransportError):
            await client.profile()


async def test_many_concurrent_tasks_share_one_client(
    roster_user: Factory,
) -> None:
    ada = await roster_user()
    reads = await asyncio.gather(*(ada.client.users.get(ada.user.id) for _ in range(200)))
    assert {user.id for user in reads} == {ada.user.id}

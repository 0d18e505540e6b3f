"""An application's tests against Roster, as a team using Roster writes them: the pytest
plugin's fixtures and roster-client, nothing else. The README ("Testing your application
against Roster") shows this file whole."""

from __future__ import annotations

import pytest
from quart.typing import TestClientProtocol as QuartClient
from roster_client import Conflict, Forbidden, InsufficientScope, RosterClient, Unauthorized

from roster.testing.mailbox import Mailbox
from roster.testing.plugin import Factory, KeyFactory


async def test_a_visitor_signs_up_and_sees_their_profile(
    roster_reset: None, roster: RosterClient
) -> None:
    await roster.users.create("Grace", "grace@example.com", "correct horse battery")
    await roster.login("grace@example.com", "correct horse battery")
    profile = await roster.profile()
    assert (profile.name, profile.role) == ("Grace", "user")


async def test_only_an_admin_promotes(roster_user: Factory, roster_admin: Factory) -> None:
    ada, admin = await roster_user(name="Ada"), await roster_admin()
    with pytest.raises(Forbidden):
        await ada.client.users.update(ada.user, role="admin")
    promoted = await admin.client.users.update(ada.user.id, role="admin")
    assert promoted.role == "admin"


async def test_a_user_who_forgot_their_password_gets_back_in(
    roster: RosterClient, roster_user: Factory, roster_mail: Mailbox
) -> None:
    ada = await roster_user(name="Ada")
    await roster.password_resets.request(ada.user.email)
    # Roster's mail, as sent (a registered user also got a verification message)
    [message] = await roster_mail.wait_for(ada.user.email, subject="password")
    await roster.password_resets.confirm(message.token, "a new long password")
    with pytest.raises(Unauthorized):
        await ada.client.profile()  # a reset ends every session
    await roster.login(ada.user.email, "a new long password")
    assert (await roster.profile()).email == ada.user.email


async def test_a_new_user_proves_their_address(roster_user: Factory, roster_mail: Mailbox) -> None:
    ada = await roster_user(name="Ada")
    assert not ada.user.email_verified
    await ada.client.email_verifications.request()  # "send it again"
    _first, again = await roster_mail.wait_for(ada.user.email, count=2, subject="verify")
    verified = await ada.client.email_verifications.confirm(again.token)
    assert verified.email_verified
    with pytest.raises(Conflict):
        await ada.client.email_verifications.request()  # nothing left to prove


async def test_a_nightly_job_reads_users_with_a_key(roster_key: KeyFactory) -> None:
    job = await roster_key("users:read")  # a new user's key, and a client that sends it
    everyone = [user.id async for user in job.client.users.iterate()]
    assert job.owner.user.id in everyone
    with pytest.raises(InsufficientScope):  # the key may read, not write
        await job.client.users.update(job.owner.user.id, name="Renamed")


async def test_every_test_can_start_from_an_empty_roster(
    roster_reset: None, roster_admin: Factory
) -> None:
    admin = await roster_admin()
    everyone = [user.email async for user in admin.client.users.iterate()]
    assert everyone == [admin.user.email]


async def test_in_process_without_a_server(roster_test_client: QuartClient) -> None:
    response = await roster_test_client.get("/health/ready")
    assert response.status_code == 200

"""Mail from a real server (docs/API.md §6, Delivery): killed before a message went out, it
sends it after a restart; with two workers, each message goes out once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from roster.testing.mailbox import mail_server

from .helpers import unique_email
from .server import register, run_server

pytestmark = pytest.mark.e2e
MAIL_ENV = {
    "MAIL_REQUEST_RATE_LIMIT": "1000/hour",
    "LOGIN_ADDRESS_RATE_LIMIT": "off",
    "MAIL_POLL_SECONDS": "0.2",
}


async def ask_for_resets(base_url: str, emails: list[str]) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=20) as http:
        for email in emails:
            response = await http.post("/api/password-resets", json={"email": email})
            assert response.status_code == 202, response.text


async def registered(base_url: str, count: int) -> list[str]:
    async with httpx.AsyncClient(base_url=base_url, timeout=20) as http:
        return [
            (await register(http, name="Mail", email=unique_email("mail")))["email"]
            for _ in range(count)
        ]


async def test_a_message_acknowledged_before_a_kill_is_sent_after_the_restart(
    database_url: str, tmp_path: Path
) -> None:
    with mail_server(started=False) as smtp:  # away: nothing can leave yet
        env = {**MAIL_ENV, "MAIL_URL": smtp.url}
        with run_server(database_url, env=env, log_dir=tmp_path) as first:
            [email] = await registered(first.base_url, 1)
            await ask_for_resets(first.base_url, [email])
            await first.logged("not sent", seconds=10)  # its first attempt failed
            first.kill()  # SIGKILL, every process
        assert smtp.received == []
        smtp.start()
        with run_server(database_url, env=env, log_dir=tmp_path) as second:
            # the registration's verification and the reset request's message: their retry
            await smtp.wait_for(email, count=2, within=30)
            await asyncio.sleep(1)
            assert sorted(received.subject for received in smtp.received) == [
                "Reset your Roster password",
                "Verify your email address for Roster",
            ]
            assert "Traceback" not in second.log()


async def test_two_workers_send_each_message_once(database_url: str, tmp_path: Path) -> None:
    with mail_server() as smtp:
        env = {**MAIL_ENV, "MAIL_URL": smtp.url}
        with run_server(database_url, workers=2, env=env, log_dir=tmp_path) as server:
            emails = await registered(server.base_url, 12)
            await asyncio.gather(
                ask_for_resets(server.base_url, emails[:6]),
                ask_for_resets(server.base_url, emails[6:]),
            )
            for email in emails:  # a verification at registration, and a reset message
                await smtp.wait_for(email, count=2, within=20)
            await asyncio.sleep(2.5)  # a poll round of every worker more: nothing sent twice
            recipients = sorted(received.to for received in smtp.received)
            assert recipients == sorted(emails * 2)
            assert "Traceback" not in server.log()

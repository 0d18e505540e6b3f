"""Mail delivery (docs/API.md §6, Delivery) against a real SMTP server on loopback: the outbox,
its sender's retries, leases and claims, the messages' headers, the transports and
`roster send-test-mail`."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from roster.cli import main
from roster.db import outbox
from roster.db.connect import open_database
from roster.db.database import Database
from roster.db.models import MailMessage, as_utc
from roster.domain.delivery import FIRST_RETRY, GIVE_UP_AFTER, LEASE, SEND_TIMEOUT_SECONDS, Sender
from roster.domain.housekeeping import purge
from roster.mail.messages import Mail
from roster.mail.transports import transport_for
from roster.serving.metrics import Metrics
from roster.settings import MailUrl, Settings, SettingsError
from roster.testing.mailbox import MailServer, mail_server

from .conftest import with_settings

ENCODED_BCC = "=?utf-8?q?a=0D=0ABcc:_spy@evil.example?="
NOTE = Mail(to="alice@example.com", subject="Hello", body="A line.\nAnother line.\n")


class Counted(Metrics):
    def __init__(self) -> None:
        self.mail_events: list[str] = []

    def mail(self, event: str) -> None:
        self.mail_events.append(event)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = open_database(settings)
    yield database
    await database.close()


def sender_for(db: Database, settings: Settings, url: str) -> Sender:
    mailing = with_settings(settings, mail_url=MailUrl.parse(url))
    transport = transport_for(mailing.mail_url, SEND_TIMEOUT_SECONDS)
    return Sender(db, transport, mailing, Counted())


@pytest.fixture
def sender(db: Database, settings: Settings, smtp: MailServer) -> Sender:
    return sender_for(db, settings, smtp.url)


async def queue(db: Database, *mails: Mail, now: datetime | None = None) -> None:
    def write(session: Session) -> None:
        for mail in mails:
            outbox.enqueue(session, mail, now or datetime.now(UTC))
        session.commit()

    await db.write(write)


async def rows(db: Database) -> list[Any]:
    def read(session: Session) -> list[Any]:
        return list(session.execute(select(MailMessage).order_by(MailMessage.id)).scalars())

    return await db.write(read)


async def make_due(db: Database) -> None:
    """Every pending message's next attempt is now (its retry time has come)."""

    def write(session: Session) -> None:
        past = datetime.now(UTC) - timedelta(seconds=1)
        session.execute(update(MailMessage).values(next_attempt_at=past))
        session.commit()

    await db.write(write)


# --- the outbox and its sender ---------------------------------------------------------------


async def test_a_queued_message_is_sent_once_and_its_body_dropped(
    db: Database, sender: Sender, smtp: MailServer
) -> None:
    await queue(db, NOTE)
    assert await sender.deliver_due() == 1
    assert await sender.deliver_due() == 0
    [received] = smtp.received
    assert received.recipients == ["alice@example.com"]
    assert received.message["Subject"] == "Hello"
    assert received.message.get_content() == NOTE.body
    [row] = await rows(db)
    assert (row.state, row.body, row.attempts) == ("sent", None, 0)
    assert row.sent_at is not None
    assert sender.metrics.mail_events == ["sent"]  # type: ignore[attr-defined]


async def test_a_write_that_rolls_back_queues_nothing(
    db: Database, sender: Sender, smtp: MailServer
) -> None:
    def write_then_fail(session: Session) -> None:
        outbox.enqueue(session, NOTE, datetime.now(UTC))
        session.flush()
        raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await db.write(write_then_fail)
    assert await sender.deliver_due() == 0
    assert smtp.received == []
    assert await rows(db) == []


async def test_a_server_that_refuses_for_a_while_gets_every_message_once_it_is_back(
    db: Database, sender: Sender, smtp: MailServer
) -> None:
    await queue(db, *[Mail(f"user{n}@example.com", f"Message {n}", "Body\n") for n in range(5)])
    smtp.refuse("451 4.3.0 try again later")
    before = datetime.now(UTC)
    assert await sender.deliver_due() == 5
    assert await sender.deliver_due() == 0  # not due again before its retry time
    for row in await rows(db):
        assert (row.state, row.attempts) == ("pending", 1)
        assert "451" in row.last_error
        retry = as_utc(row.next_attempt_at)
        assert before + FIRST_RETRY <= retry <= datetime.now(UTC) + FIRST_RETRY
        assert row.body == "Body\n"  # kept until sent

    smtp.refuse(None)
    await make_due(db)
    assert await sender.deliver_due() == 5
    await make_due(db)
    assert await sender.deliver_due() == 0
    assert sorted(r.recipients[0] for r in smtp.received) == [
        f"user{n}@example.com" for n in range(5)
    ]
    assert {row.state for row in await rows(db)} == {"sent"}


async def test_a_server_that_is_away_gets_the_message_when_it_comes_back(
    db: Database, settings: Settings
) -> None:
    with mail_server(started=False) as away:
        sender = sender_for(db, settings, away.url)
        await queue(db, NOTE)
        assert await sender.deliver_due() == 1
        [row] = await rows(db)
        assert (row.state, row.attempts) == ("pending", 1)
        away.start()
        await make_due(db)
        assert await sender.deliver_due() == 1
        assert len(away.received) == 1


async def test_retries_back_off_to_an_hour_and_give_up_after_48_hours(
    db: Database, sender: Sender, smtp: MailServer
) -> None:
    smtp.refuse("421 4.7.0 busy")
    written = datetime.now(UTC) - GIVE_UP_AFTER + timedelta(minutes=30)
    await queue(db, NOTE, now=written)

    def attempts_made(session: Session, n: int) -> None:
        session.execute(update(MailMessage).values(attempts=n, next_attempt_at=written))
        session.commit()

    await db.write(attempts_made, 3)  # the fourth attempt: 80 s later
    await sender.deliver_due()
    [row] = await rows(db)
    wait = as_utc(row.next_attempt_at) - datetime.now(UTC)
    assert timedelta(seconds=79) < wait <= timedelta(seconds=80)

    await db.write(attempts_made, 12)  # 10 s x 2**12 is more than an hour: an hour
    await sender.deliver_due()
    [row] = await rows(db)
    assert row.state == "given_up"  # an hour more would pass the 48 hours
    assert row.body is None
    assert sender.metrics.mail_events == ["failed", "failed", "given_up"]  # type: ignore[attr-defined]


async def test_a_permanent_refusal_is_given_up_at_once(
    db: Database, sender: Sender, smtp: MailServer
) -> None:
    smtp.refuse("550 5.1.1 no such mailbox")
    await queue(db, NOTE)
    await sender.deliver_due()
    [row] = await rows(db)
    assert (row.state, row.attempts, row.body) == ("given_up", 1, None)
    assert "550" in row.last_error


async def test_a_message_claimed_by_a_sender_that_died_is_sent_when_its_lease_ends(
    db: Database, sender: Sender, smtp: MailServer
) -> None:
    long_ago = datetime.now(UTC) - LEASE - timedelta(seconds=1)
    await queue(db, NOTE, now=long_ago)
    [claimed] = await db.write(outbox.claim, long_ago, LEASE, 10)  # and then it died
    assert await sender.deliver_due() == 1  # the lease has run out
    assert len(smtp.received) == 1

    await db.write(outbox.record_sent, claimed, datetime.now(UTC))  # the dead one, late
    [row] = await rows(db)
    assert row.state == "sent"


async def test_a_live_lease_hides_a_message_from_other_senders(
    db: Database, sender: Sender, smtp: MailServer
) -> None:
    await queue(db, NOTE)
    await db.write(outbox.claim, datetime.now(UTC), LEASE, 10)
    assert await sender.deliver_due() == 0
    assert smtp.received == []


async def test_two_workers_send_each_message_once(settings: Settings, smtp: MailServer) -> None:
    """Two processes' worth of senders (each its own database connections), racing."""
    first, second = open_database(settings), open_database(settings)
    try:
        senders = [sender_for(first, settings, smtp.url), sender_for(second, settings, smtp.url)]
        mails = [Mail(f"user{n}@example.com", f"Message {n}", "Body\n") for n in range(60)]
        await queue(first, *mails)
        for _ in range(4):
            await asyncio.gather(*(s.deliver_due() for s in senders for _ in range(2)))
        recipients = sorted(r.recipients[0] for r in smtp.received)
        assert recipients == sorted(mail.to for mail in mails)
        assert {row.state for row in await rows(first)} == {"sent"}
    finally:
        await first.close()
        await second.close()


async def test_the_running_sender_sends_what_is_written_at_once(
    db: Database, sender: Sender, smtp: MailServer
) -> None:
    sender.start()
    try:
        await asyncio.sleep(0.1)  # its first round: nothing due
        await queue(db, NOTE)
        sender.written()
        for _ in range(100):
            if smtp.received:
                break
            await asyncio.sleep(0.02)
        assert len(smtp.received) == 1
    finally:
        await sender.stop()


# --- the message ---------------------------------------------------------------------------------


async def test_hostile_names_add_no_header_and_unicode_is_encoded(
    db: Database, sender: Sender, smtp: MailServer
) -> None:
    await queue(
        db,
        Mail(
            "eve@example.com", "Hi\r\nBcc: spy@evil.example", "x\n", "Eve\r\nBcc: spy@evil.example"
        ),
        Mail("zoe@example.com", "Grüße", "Größe: ✓\n", "Zoë Ünïcode"),
        Mail("zoë@exämple.com", "Hello", "x\n", "=?utf-8?q?Forged?= <ceo@example.com>"),
        Mail("mallory@example.com", "=?utf-8?q?=0D=0ABcc:_spy@evil.example?=", "x\n", ENCODED_BCC),
    )
    await sender.deliver_due()
    eve, mallory, zoe, unicode_address = sorted(smtp.received, key=lambda r: r.recipients[0])
    for received in (eve, mallory, zoe, unicode_address):
        head = received.raw.split(b"\r\n\r\n")[0].split(b"\r\n")
        names = [line.split(b":")[0].lower() for line in head if not line[:1].isspace()]
        assert names == [
            b"from",
            b"to",
            b"subject",
            b"date",
            b"message-id",
            b"auto-submitted",
            b"content-type",
            b"content-transfer-encoding",
            b"mime-version",
        ]
        assert len(received.recipients) == 1
    assert eve.message["To"].addresses[0].display_name == "Eve Bcc: spy@evil.example"
    assert eve.recipients == ["eve@example.com"]
    # RFC 2047 for a non-ASCII name and subject; the body in UTF-8
    assert b"=?utf-8?" in zoe.raw.split(b"\r\n\r\n")[0]
    assert zoe.message["To"].addresses[0].display_name == "Zoë Ünïcode"
    assert zoe.message["Subject"] == "Grüße"
    assert zoe.message.get_content() == "Größe: ✓\n"
    assert "SMTPUTF8" not in zoe.options
    # RFC 6532: a non-ASCII address goes as UTF-8, with SMTPUTF8; a name that looks like an
    # encoded word or an address stays a name
    assert "SMTPUTF8" in unicode_address.options
    assert unicode_address.recipients == ["zoë@exämple.com"]
    to = unicode_address.message["To"].addresses[0]
    assert (to.addr_spec, to.display_name) == (
        "zoë@exämple.com",
        "= ?utf-8?q?Forged?= <ceo@example.com>",
    )
    # an encoded word decodes to nothing: no CR LF, no Bcc, no second recipient
    assert mallory.recipients == ["mallory@example.com"]
    assert len(mallory.message["To"].addresses) == 1
    assert mallory.message["To"].addresses[0].display_name == "= ?" + ENCODED_BCC[2:]
    assert mallory.message["Subject"] == "= ?utf-8?q?=0D=0ABcc:_spy@evil.example?="


async def test_the_message_is_from_mail_from_and_marked_automatic(
    db: Database, settings: Settings, smtp: MailServer
) -> None:
    sender = sender_for(
        db, with_settings(settings, mail_from="Acme <noreply@acme.example>"), smtp.url
    )
    await queue(db, NOTE)
    await sender.deliver_due()
    [received] = smtp.received
    assert received.sender == "noreply@acme.example"
    assert str(received.message["From"]) == "Acme <noreply@acme.example>"
    assert received.message["Auto-Submitted"] == "auto-generated"
    assert received.message["Message-ID"].endswith("@acme.example>")
    assert received.message["Date"] is not None


# --- transports -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def trusted(
    authority: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> ssl.SSLContext:
    """The server's TLS context, its authority trusted by the client (SSL_CERT_FILE)."""
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    return context


async def test_starttls_with_authentication(
    db: Database, settings: Settings, trusted: ssl.SSLContext
) -> None:
    with mail_server(
        tls=trusted, require_starttls=True, credentials=("roster", "s3cret")
    ) as server:
        url = f"smtp://roster:s3cret@127.0.0.1:{server.port}?starttls=require"
        await queue(db, NOTE)
        await sender_for(db, settings, url).deliver_due()
        assert len(server.received) == 1


async def test_wrong_credentials_are_a_failed_attempt(
    db: Database, settings: Settings, trusted: ssl.SSLContext
) -> None:
    with mail_server(tls=trusted, credentials=("roster", "s3cret")) as server:
        url = f"smtp://roster:wrong@127.0.0.1:{server.port}"
        await queue(db, NOTE)
        await sender_for(db, settings, url).deliver_due()
        [row] = await rows(db)
        assert server.received == []
        assert "535" in row.last_error


async def test_an_untrusted_certificate_is_refused(db: Database, settings: Settings) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(context)  # an authority nobody trusts
    with mail_server(tls=context, require_starttls=True) as server:
        await queue(db, NOTE)
        await sender_for(db, settings, f"{server.url}?starttls=require").deliver_due()
        [row] = await rows(db)
        assert server.received == []
        assert row.state == "pending"
        assert "certificate" in row.last_error.lower()


async def test_implicit_tls(db: Database, settings: Settings, trusted: ssl.SSLContext) -> None:
    with mail_server(tls=trusted, implicit_tls=True) as server:
        await queue(db, NOTE)
        await sender_for(db, settings, f"smtps://127.0.0.1:{server.port}").deliver_due()
        assert len(server.received) == 1


async def test_log_transport_writes_the_message_to_the_log(
    db: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    await queue(db, Mail("alice@example.com", "Reset", "Your link: http://x/reset?token=abc\n"))
    with caplog.at_level(logging.INFO, logger="roster.mail"):
        await sender_for(db, settings, "log:").deliver_due()
    assert "http://x/reset?token=abc" in caplog.text
    assert "alice@example.com" in caplog.text
    [row] = await rows(db)
    assert row.state == "sent"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("http://mx:25", "MAIL_URL must be log:, smtp://"),
        ("smtp://mx", "MAIL_URL needs a host and a port number"),
        ("smtp://mx:port", "MAIL_URL needs a host and a port number"),
        ("smtp://mx:25?starttls=maybe", "MAIL_URL takes only ?starttls=require"),
        ("smtps://mx:465?starttls=require", "MAIL_URL takes only ?starttls=require"),
    ],
)
def test_an_unusable_mail_url_is_refused_in_one_line(value: str, problem: str) -> None:
    with pytest.raises(SettingsError, match=problem.replace("?", r"\?")):
        Settings.from_env({"MAIL_URL": value})


def test_mail_url_keeps_its_password_out_of_sight() -> None:
    settings = Settings.from_env({"MAIL_URL": "smtp://roster:p%40ss@mx.example:587"})
    assert settings.mail_url.password == "p@ss"
    assert "p@ss" not in repr(settings)
    assert "p@ss" not in str(settings.mail_url)


@pytest.mark.parametrize("value", ["a@b, c@d", "Roster\r\nBcc: x@y", "no address", "x@"])
def test_an_unusable_mail_from_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="MAIL_FROM"):
        Settings.from_env({"MAIL_FROM": value})


# --- roster send-test-mail --------------------------------------------------------------------


def test_send_test_mail_says_what_the_server_answered(
    smtp: MailServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MAIL_URL", smtp.url)
    assert main(["send-test-mail", "--to", " Alice@Example.com "]) == 0
    [received] = smtp.received
    assert received.recipients == ["alice@example.com"]
    assert capsys.readouterr().out.startswith(
        f"roster: sent to alice@example.com through {smtp.url}: 250 2.0.0 kept"
    )


def test_send_test_mail_fails_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with mail_server(started=False) as away:
        monkeypatch.setenv("MAIL_URL", away.url)
        assert main(["send-test-mail", "--to", "alice@example.com"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("roster: the message to alice@example.com was not sent:")
    assert "Traceback" not in error


def test_send_test_mail_refuses_a_bad_address(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["send-test-mail", "--to", "not-an-address"]) == 1
    assert "--to 'not-an-address'" in capsys.readouterr().err


async def test_housekeeping_forgets_messages_done_with_for_a_week_and_keeps_the_rest(
    db: Database, settings: Settings, sender: Sender
) -> None:
    week_ago = datetime.now(UTC) - timedelta(days=7, seconds=1)
    await queue(db, Mail("old@example.com", "Old", "x\n"), now=week_ago)
    await sender.deliver_due()  # sent
    await queue(db, Mail("waiting@example.com", "Waiting", "x\n"), now=week_ago)
    await purge(db, settings, datetime.now(UTC))
    assert [row.recipient for row in await rows(db)] == ["waiting@example.com"]

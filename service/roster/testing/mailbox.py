"""A real SMTP server on loopback (aiosmtpd, in a thread of its own) that keeps what it is sent,
and can be told to refuse for a while, for good, or to be away altogether: Roster's own mail
tests use it, and the pytest plugin serves it to Roster for `roster_mail` (needs aiosmtpd,
in the `testing` extra)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from .server import free_port

# A token on a line of its own (docs/API.md §6): 32 random bytes, base64url.
_TOKEN_LINE = re.compile(r"^([A-Za-z0-9_-]{43})$", re.MULTILINE)
_LINK = re.compile(r"^(https?://\S+)$", re.MULTILINE)


@dataclass(frozen=True)
class Received:
    """A message as the server took it."""

    sender: str
    recipients: list[str]
    options: list[str]  # MAIL FROM options (SMTPUTF8, BODY=8BITMIME…)
    raw: bytes
    message: EmailMessage

    @property
    def to(self) -> str:
        return self.recipients[0]

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        return str(self.message.get_content())

    @property
    def token(self) -> str:
        """The one-use token the message carries (AssertionError if none)."""
        found = _TOKEN_LINE.search(self.body)
        assert found is not None, f"no token in the message to {self.to}: {self.body!r}"
        return found.group(1)

    @property
    def link(self) -> str:
        """The link that carries the message's token, wherever its template puts it
        (AssertionError if none)."""
        token = self.token
        links = [link for link in _LINK.findall(self.body) if token in link]
        assert links, f"no link in the message to {self.to}: {self.body!r}"
        return str(links[0])


class Handler:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.refusal: str | None = None  # e.g. "451 4.3.0 try later"
        self._lock = threading.Lock()

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        if self.refusal is not None:
            return self.refusal
        raw = bytes(envelope.original_content or envelope.content)
        # RFC 6532: headers may be UTF-8 (an SMTPUTF8 message); the body is 7-bit or UTF-8.
        text = raw.replace(b"\r\n", b"\n").decode("utf-8")
        parsed = email.message_from_string(text, policy=email.policy.default)
        with self._lock:
            self.received.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    list(envelope.mail_options),
                    raw,
                    parsed,
                )
            )
        return "250 2.0.0 kept"


class MailServer:
    """An SMTP server on 127.0.0.1:`port` until `stop`."""

    def __init__(
        self,
        tls: ssl.SSLContext | None = None,
        require_starttls: bool = False,
        implicit_tls: bool = False,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.handler = Handler()
        self.port = free_port()
        options: dict[str, Any] = {"enable_SMTPUTF8": True}
        if tls is not None and not implicit_tls:
            options.update(tls_context=tls, require_starttls=require_starttls)
        if implicit_tls:
            options["ssl_context"] = tls
        if credentials is not None:
            options.update(auth_required=True, authenticator=_authenticator(credentials))
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **options)
        self.running = False

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        return list(self.handler.received)

    async def wait_for(
        self,
        to: str,
        count: int = 1,
        within: float = 10.0,
        since: int = 0,
        subject: str | None = None,
    ) -> list[Received]:
        """The messages to `to` (from the `since`-th received on; with `subject`, only those
        whose subject holds it, case aside), once there are `count`; AssertionError after
        `within` seconds."""
        found: list[Received] = []
        for _ in range(max(1, int(within / 0.02))):
            found = [
                received
                for received in self.handler.received[since:]
                if to in received.recipients and _about(received, subject)
            ]
            if len(found) >= count:
                return found
            await asyncio.sleep(0.02)
        raise AssertionError(f"{count} message(s) to {to} expected, {len(found)} came")

    def refuse(self, reply: str | None) -> None:
        """Answer every message with `reply` (None: take them again)."""
        self.handler.refusal = reply

    def start(self) -> None:
        self._controller.start()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self._controller.stop()
            self.running = False
        if not self._controller.loop.is_closed():
            self._controller.loop.close()  # the controller's own loop, made even if never started


def _authenticator(credentials: tuple[str, str]) -> Any:
    def authenticate(
        _server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any
    ) -> AuthResult:
        if (
            isinstance(data, LoginPassword)
            and (data.login.decode(), data.password.decode()) == credentials
        ):
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    return authenticate


@contextmanager
def mail_server(started: bool = True, **options: Any) -> Iterator[MailServer]:
    """A server, running unless `started` is false (then its port refuses connections until
    `start`)."""
    server = MailServer(**options)
    if started:
        server.start()
    try:
        yield server
    finally:
        server.stop()


class Mailbox:
    """What a test sees of the plugin's mail server (`roster_mail`): the messages Roster sent
    since the test began."""

    def __init__(self, server: MailServer) -> None:
        self.server = server
        self._since = len(server.handler.received)

    @property
    def messages(self) -> list[Received]:
        return self.server.received[self._since :]

    async def wait_for(
        self, to: str, count: int = 1, within: float = 10.0, subject: str | None = None
    ) -> list[Received]:
        """The messages to `to` since the test began (with `subject`, only those whose subject
        holds it, such as "password" or "verify"), once there are `count` (mail leaves Roster
        after the request that caused it has answered)."""
        return await self.server.wait_for(to, count, within, since=self._since, subject=subject)


def _about(received: Received, subject: str | None) -> bool:
    return subject is None or subject.casefold() in received.subject.casefold()

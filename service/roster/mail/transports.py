"""How a message leaves: MAIL_URL (docs/API.md §6, Delivery).

- `log:` writes each message, link included, to the log at INFO instead of sending it;
- `smtp://[user:password@]host:port` talks SMTP, upgraded with STARTTLS when the server offers
  it (`?starttls=require`: refused unless it does);
- `smtps://[user:password@]host:port` talks SMTP inside TLS from the start.

Certificates are checked against the system's trusted authorities (SSL_CERT_FILE may name
others). aiosmtplib speaks the protocol: a well-kept asyncio client with STARTTLS, implicit
TLS, AUTH and SMTPUTF8.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib

from ..settings import MailUrl
from .messages import Envelope

logger = logging.getLogger("roster.mail")


class Undelivered(Exception):
    """The mail server did not take the message: `permanent` when asking again cannot help."""

    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


class Transport(Protocol):
    async def send(self, message: EmailMessage, envelope: Envelope) -> str:
        """Hand `message` over for `envelope`'s recipient; what the server answered.
        Undelivered if it did not take it."""
        ...


class LogTransport:
    async def send(self, message: EmailMessage, envelope: Envelope) -> str:
        # A record a line: log lines are escaped (one line each), and a link stays readable.
        logger.info(
            "mail (MAIL_URL=log:, not sent) to %s: %s", envelope.recipient, message["Subject"]
        )
        body = message.get_content() if not message.is_multipart() else ""
        for line in body.rstrip().splitlines():
            logger.info("mail | %s", line)
        return "logged"


@dataclass(frozen=True)
class SmtpTransport:
    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool
    require_starttls: bool
    timeout: float

    async def send(self, message: EmailMessage, envelope: Envelope) -> str:
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            use_tls=self.implicit_tls,
            # None: upgrade when offered; True: refuse to go on without it.
            start_tls=True if self.require_starttls else None,
            tls_context=ssl.create_default_context(),
            timeout=self.timeout,
        )
        try:
            async with client:
                if self.username is not None:
                    await client.login(self.username, self.password or "")
                refused, reply = await client.send_message(
                    message, sender=envelope.sender, recipients=[envelope.recipient]
                )
        except aiosmtplib.SMTPRecipientsRefused as error:
            raise Undelivered(_refusal(error), permanent=_all_permanent(error)) from None
        except aiosmtplib.SMTPResponseException as error:
            raise Undelivered(f"{error.code} {error.message}", error.code >= 500) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise Undelivered(str(error) or type(error).__name__) from None
        if refused:  # some recipients refused: there is only ever one
            raise Undelivered(str(refused), permanent=True)
        return f"250 {reply.strip()}"  # the reply to the message's data (only 250 is success)


def _refusal(error: aiosmtplib.SMTPRecipientsRefused) -> str:
    return "; ".join(f"{item.code} {item.message}" for item in error.recipients)


def _all_permanent(error: aiosmtplib.SMTPRecipientsRefused) -> bool:
    return all(item.code >= 500 for item in error.recipients)


def transport_for(url: MailUrl, timeout: float) -> Transport:
    """The transport MAIL_URL names."""
    if url.scheme == "log":
        return LogTransport()
    assert url.host is not None  # the settings' parser saw to it
    assert url.port is not None
    return SmtpTransport(
        host=url.host,
        port=url.port,
        username=url.username,
        password=url.password,
        implicit_tls=url.scheme == "smtps",
        require_starttls=url.require_starttls,
        timeout=timeout,
    )

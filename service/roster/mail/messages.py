"""A message as the mail server receives it (RFC 5322): plain text in UTF-8, a display name
with non-ASCII characters as an encoded word (RFC 2047), a non-ASCII address sent as UTF-8
(RFC 6532, SMTPUTF8).

A name or subject can hold anything a user typed. Header values are never pasted together
from strings (the email package's header objects quote and encode them), control characters
become spaces, and `=?` is broken up: the email package decodes encoded words in a value it is
given, so `=?utf-8?q?=0D=0ABcc:_x@evil?=` as a name would otherwise become a Bcc header (and a
recipient). The envelope is never read from the headers either (`Envelope`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from ..settings import Settings

_CONTROLS = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class Mail:
    """One message to send: to whom, and what it says (plain text)."""

    to: str
    subject: str
    body: str
    to_name: str | None = None


@dataclass(frozen=True)
class Envelope:
    """Who the mail server is told the message is from and for (MAIL FROM, RCPT TO)."""

    sender: str
    recipient: str


def envelope(mail: Mail, settings: Settings) -> Envelope:
    sender = settings.mail_from.rpartition("<")[2].rstrip(">").strip()
    return Envelope(sender, mail.to)


def email_message(mail: Mail, settings: Settings) -> EmailMessage:
    """The message of `mail`, from MAIL_FROM."""
    ascii_only = (mail.to + settings.mail_from).isascii()
    message = EmailMessage(policy=policy.SMTP if ascii_only else policy.SMTPUTF8)
    message["From"] = settings.mail_from
    message["To"] = _address(mail.to, mail.to_name)
    message["Subject"] = _header_text(mail.subject)
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=envelope(mail, settings).sender.rpartition("@")[2])
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to this
    # 7-bit on the wire whatever the server supports: quoted-printable once there is non-ASCII.
    encoding = "7bit" if mail.body.isascii() else "quoted-printable"
    message.set_content(mail.body, charset="utf-8", cte=encoding)
    return message


def _address(email: str, name: str | None) -> Address:
    username, _, domain = email.rpartition("@")
    return Address(display_name=_header_text(name or ""), username=username, domain=domain)


def _header_text(text: str) -> str:
    """One line that holds no encoded word: control characters as one space, `=?` as `= ?`."""
    return _CONTROLS.sub(" ", text).replace("=?", "= ?").strip()

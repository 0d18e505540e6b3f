"""What every layer shares about users: the field rules and the representations the API returns
(and the domain and the database produce), with their JSON Schema for /openapi.json."""

from __future__ import annotations

import bisect
import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

Role = Literal["user", "admin"]
Status = Literal["active", "disabled"]
DEFAULT_ROLE: Role = "user"
DEFAULT_STATUS: Status = "active"
# What an API key may do (docs/API.md §2); the admin ones only while its owner is an admin.
Scope = Literal["profile:read", "users:read", "users:write", "audit:read", "tokens:introspect"]
SCOPES: tuple[str, ...] = get_args(Scope)
ADMIN_SCOPES = frozenset({"audit:read", "tokens:introspect"})
SortKey = Literal["id", "-id", "name", "-name", "email", "-email", "created_at", "-created_at"]
MAX_ID = 2**63 - 1
UNKNOWN_ADDRESS = "-"  # the client address of a request with no peer (a session stores null)
# The default of an optional body field. A client's explicit null is still rejected: `None` is
# not a value of the field's type, and defaults are not validated.
OMITTED: Any = None
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$", re.ASCII)


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds: 2026-11-23T20:21:22.850935Z."""
    if moment.tzinfo is not None:  # naive values from the database are already UTC
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    # isoformat() without arguments: parsing `timespec=` cost more than the formatting (S3
    # formats 40 a page). It leaves the fraction out only when it is zero.
    text = moment.isoformat()
    return text + "Z" if moment.microsecond else text + ".000000Z"


def _reject_control_characters(value: str) -> None:
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise PydanticCustomError("control_character", "Must not contain control characters")


def clean_name(value: str) -> str:
    name = value.strip()
    if not 1 <= len(name) <= 100:
        raise PydanticCustomError("name_length", "Must be 1 to 100 characters after trimming")
    _reject_control_characters(name)
    return name


def normalize_email(value: str) -> str:
    """Trimmed, Unicode case-folded, NFC: `ΟΔΟΣ`, `οδος` and `οδοσ`, or a composed and a
    decomposed `é`, are one address (docs/API.md §3)."""
    folded = unicodedata.normalize("NFD", value.strip()).casefold()
    return unicodedata.normalize("NFC", folded)


# Characters that show nothing: Unicode's Default_Ignorable_Code_Point (Unicode 15.1, the set
# UTS #39 and PRECIS treat as invisible), with U+2800 BRAILLE PATTERN BLANK, which is not but
# draws nothing all the same; every format character (Cf) is one too. As (first, last) ranges:
# `unicodedata` knows categories, not this property.
_INVISIBLE = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
    (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x206F), (0x2800, 0x2800), (0x3164, 0x3164), (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip
_INVISIBLE_STARTS = tuple(first for first, _ in _INVISIBLE)


def is_invisible(char: str) -> bool:
    code = ord(char)
    index = bisect.bisect_right(_INVISIBLE_STARTS, code) - 1
    if index >= 0 and code <= _INVISIBLE[index][1]:
        return True
    return unicodedata.category(char) == "Cf"


def visible_text(text: str) -> str:
    """`text` without its control and invisible characters (a label taken from a header)."""
    return "".join(
        char for char in text if unicodedata.category(char) != "Cc" and not is_invisible(char)
    )


def _reject_invisible_characters(value: str) -> None:
    # Invisible characters (U+200B, U+00AD, U+034F, U+3164…) would make look-alike addresses.
    if any(is_invisible(char) for char in value):
        raise PydanticCustomError("invisible_character", "Must not contain invisible characters")


def clean_email(value: str) -> str:
    email = normalize_email(value)
    if len(email) > 254:
        raise PydanticCustomError("email_length", "Must be at most 254 characters")
    local, at, domain = email.partition("@")
    labels = domain.split(".")
    well_formed = (
        at == "@"
        and local != ""
        and "@" not in domain
        and len(labels) >= 2
        and all(labels)
        and not any(char.isspace() for char in email)
    )
    if not well_formed:
        raise PydanticCustomError("email_format", "Invalid email format")
    _reject_control_characters(email)
    _reject_invisible_characters(email)
    return email


def clean_search_term(value: str) -> str:
    _reject_control_characters(value)  # no name or email holds one: malformed, not a miss
    return value


# The name, email and search rules as JSON Schema patterns (on the value before trimming), so
# that /openapi.json tells clients, and fuzzers, what a valid value looks like: the lengths after
# trimming, no control characters.
_CC = r"\x00-\x1f\x7f-\x9f"
NAME_PATTERN = rf"^\s*[^\s{_CC}]([^{_CC}]{{0,98}}[^\s{_CC}])?\s*$"
EMAIL_PATTERN = rf"^(?=\s*\S{{1,254}}\s*$)\s*[^\s@{_CC}]+@[^\s@.{_CC}]+(\.[^\s@.{_CC}]+)+\s*$"
SEARCH_PATTERN = rf"^[^{_CC}]*$"
Name = Annotated[
    str,
    AfterValidator(clean_name),
    WithJsonSchema({"type": "string", "minLength": 1, "pattern": NAME_PATTERN}),
]
SearchTerm = Annotated[
    str,
    AfterValidator(clean_search_term),
    WithJsonSchema({"type": "string", "pattern": SEARCH_PATTERN}),
]
Email = Annotated[
    str,
    AfterValidator(clean_email),
    WithJsonSchema({"type": "string", "pattern": EMAIL_PATTERN}),
]
Password = Annotated[str, Field(min_length=8, max_length=128)]
Timestamp = Annotated[
    datetime,
    PlainSerializer(format_timestamp, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def rfc3339_text(value: object) -> object:
    """A date-time is a JSON string in RFC 3339 form; numbers (Unix times) are not one."""
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise PydanticCustomError("datetime_format", "Must be an RFC 3339 date-time string")
    return value


# A date-time a client may send back (a read-only field): a string, never a Unix time.
SentTimestamp = Annotated[datetime, BeforeValidator(rfc3339_text)]


class UserListQuery(BaseModel):
    """The query string of `GET /api/users`: a page, its order, its filters; or a cursor."""

    model_config = ConfigDict(extra="ignore")

    page: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description="Default 1. Past the last page: `data` is empty. Not with `cursor`.",
    )
    per_page: int | None = Field(
        default=None, ge=1, le=100, description="Default 20, or the one `cursor` carries."
    )
    sort: SortKey | None = Field(
        default=None, description="A field, `-` prefixed for descending. Default `id`."
    )
    q: SearchTerm | None = Field(
        default=None, description="Case-insensitive substring of name or email (`%`, `_` literal)."
    )
    role: Role | None = None
    status: Status | None = None
    cursor: str | None = Field(
        default=None,
        max_length=1024,
        pattern=r"^[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+$",
        description="A `next_cursor` from a list response: the next items, same order and filters.",
    )


class UserOut(BaseModel):
    """A user as the API returns it: never the password or its hash."""

    id: int
    name: str
    email: str
    email_verified: bool
    role: Role
    status: Status
    created_at: Timestamp
    updated_at: Timestamp


class TokenOut(BaseModel):
    """A newly issued bearer token: shown once, stored only as its hash."""

    id: int = Field(description="The session's id (see `GET /api/tokens`).")
    token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (a scheme name, not a secret)
    expires_at: Timestamp


class SessionOut(BaseModel):
    """A session: a live token, never the token or its hash."""

    id: int
    label: str | None
    created_at: Timestamp
    expires_at: Timestamp
    last_used_at: Timestamp
    client_address: str | None
    current: bool = Field(description="Whether this is the token presenting the request.")


class KeyOut(BaseModel):
    """An API key: never its secret (but once, at creation) or its hash."""

    id: int
    name: str
    scopes: list[Scope]
    prefix: str = Field(description="The secret's first 9 characters, to tell keys apart.")
    created_at: Timestamp
    expires_at: Timestamp
    last_used_at: Timestamp | None


class NewKeyOut(KeyOut):
    """A key just created, with its secret: shown this once, stored only as its hash."""

    key: str


# The audit log (docs/API.md §7).
AuditType = Literal[
    "user.created",
    "user.updated",
    "user.deleted",
    "login.succeeded",
    "login.failed",
    "session.ended",
    "key.created",
    "key.revoked",
    "email.verified",
    "password.reset_requested",
    "password.reset",
]
AUDIT_TYPES: tuple[str, ...] = get_args(AuditType)
UNKNOWN_TYPE = "Unknown event type: {kind}"


def audit_types(value: object) -> object:
    """`type=`: one event type, or a comma-separated list of them (each known, each once)."""
    if not isinstance(value, str):
        return value
    kinds = [kind.strip() for kind in value.split(",")]
    for kind in kinds:
        if kind not in AUDIT_TYPES:
            message = UNKNOWN_TYPE.format(kind=kind[:40] or "(empty)")
            raise PydanticCustomError("audit_type", message)
    return tuple(dict.fromkeys(kinds))


AuditTypes = Annotated[
    tuple[AuditType, ...],
    BeforeValidator(audit_types),
    WithJsonSchema({"type": "string", "pattern": r"^[a-z._]+(,[a-z._]+)*$"}),
]


class AuditListQuery(BaseModel):
    """The query string of `GET /api/audit-events` (and a user's own): filters, or a cursor."""

    model_config = ConfigDict(extra="ignore")

    type: AuditTypes | None = Field(
        default=None, description="An event type, or a comma-separated list of them."
    )
    actor_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    target_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    since: SentTimestamp | None = Field(default=None, description="RFC 3339; inclusive.")
    until: SentTimestamp | None = Field(default=None, description="RFC 3339; exclusive.")
    per_page: int | None = Field(
        default=None, ge=1, le=100, description="Default 20, or the one `cursor` carries."
    )
    cursor: str | None = Field(
        default=None,
        max_length=1024,
        pattern=r"^[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+$",
        description="A `next_cursor` from a list response: the next events, same filters.",
    )


class CredentialOut(BaseModel):
    kind: Literal["session", "key", "cli"]
    id: int | None


class AuditEventOut(BaseModel):
    """An audit event: never a password, token, key, hash or mail body."""

    id: int
    type: AuditType
    occurred_at: Timestamp
    actor_id: int | None = Field(description="The authenticated caller; null when anonymous.")
    credential: CredentialOut | None
    target_id: int | None = Field(description="The user acted on; null when none.")
    client_address: str | None
    request_id: str | None
    details: dict[str, Any]

"""Pydantic schemas: what the API accepts and returns, and so what /openapi.json documents."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

Role = Literal["user", "admin"]
ROLES: tuple[Role, ...] = ("user", "admin")
SORT_FIELDS = ("id", "name", "email", "created_at")
SortKey = Literal["id", "-id", "name", "-name", "email", "-email", "created_at", "-created_at"]
MAX_ID = 2**63 - 1
# The default of an optional body field. A client's explicit null is still rejected: `None` is
# not a value of the field's type, and defaults are not validated.
OMITTED: Any = None


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds: 2026-11-23T20:21:22.850935Z."""
    if moment.tzinfo is not None:  # naive values from the database are already UTC
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds") + "Z"  # isoformat: C, unlike strftime


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


def _reject_format_characters(value: str) -> None:
    # Invisible characters (U+200B, U+00AD, U+202E...) would make look-alike addresses.
    if any(unicodedata.category(char) == "Cf" for char in value):
        raise PydanticCustomError(
            "format_character", "Must not contain invisible formatting characters"
        )


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
    _reject_format_characters(email)
    return email


def clean_search_term(value: str) -> str:
    _reject_control_characters(value)  # no name or email holds one: malformed, not a miss
    return value


# The name and email rules as JSON Schema patterns (on the value before trimming), so that
# /openapi.json tells clients, and fuzzers, what a valid value looks like. No control characters.
_CC = r"\x00-\x1f\x7f-\x9f"
NAME_PATTERN = rf"^\s*[^\s{_CC}]([^{_CC}]*[^\s{_CC}])?\s*$"
EMAIL_PATTERN = rf"^\s*[^\s@{_CC}]+@[^\s@.{_CC}]+(\.[^\s@.{_CC}]+)+\s*$"
Name = Annotated[
    str,
    AfterValidator(clean_name),
    WithJsonSchema({"type": "string", "minLength": 1, "pattern": NAME_PATTERN}),
]
SearchTerm = Annotated[str, AfterValidator(clean_search_term)]
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


class _Body(BaseModel):
    """A JSON request body: unknown fields and nulls are rejected."""

    model_config = ConfigDict(extra="forbid")


class _AcceptsReadOnly(_Body):
    """Bodies that may carry back what GET returned: read-only fields are accepted, ignored."""

    id: int = Field(default=OMITTED, ge=1, description="Read-only; ignored.")
    created_at: datetime = Field(default=OMITTED, description="Read-only; ignored.")
    updated_at: datetime = Field(default=OMITTED, description="Read-only; ignored.")


class UserCreate(_AcceptsReadOnly):
    name: Name = Field(description="1 to 100 characters after trimming.")
    email: Email = Field(description="Trimmed and lower-cased; unique.")
    password: Password = Field(description="8 to 128 characters; write-only.")
    role: Role = Field(default=OMITTED, description="Only an admin may set it; defaults to `user`.")


class UserReplace(_AcceptsReadOnly):
    name: Name
    email: Email
    password: Password = Field(default=OMITTED, description="Optional; always counts as a change.")
    role: Role = Field(default=OMITTED, description="Only an admin may change it.")


class UserPatch(_AcceptsReadOnly):
    name: Name = Field(default=OMITTED)
    email: Email = Field(default=OMITTED)
    password: Password = Field(default=OMITTED)
    role: Role = Field(default=OMITTED, description="Only an admin may change it.")


class TokenCreate(_Body):
    email: str = Field(description="Matched after trimming and lower-casing.")
    password: str


class UserListQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    page: int = Field(
        default=1, ge=1, le=MAX_ID, description="Past the last page: `data` is empty."
    )
    per_page: int = Field(default=20, ge=1, le=100)
    sort: SortKey = Field(default="id", description="A field, `-` prefixed for descending.")
    q: SearchTerm | None = Field(default=None, description="Substring of name or email.")
    role: Role | None = None


class UserOut(BaseModel):
    id: int
    name: str
    email: str
    role: Role
    created_at: Timestamp
    updated_at: Timestamp


class TokenOut(BaseModel):
    token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (a scheme name, not a secret)
    expires_at: Timestamp


class HealthOut(BaseModel):
    status: Literal["ok"] = "ok"


class ReadinessOut(BaseModel):
    status: Literal["ok"] = "ok"
    database: Literal["ok"] = "ok"


class Meta(BaseModel):
    request_id: str


class PageMeta(Meta):
    page: int
    per_page: int
    total: int
    pages: int


DataT = TypeVar("DataT")


class DataEnvelope(BaseModel, Generic[DataT]):
    data: DataT
    meta: Meta


class ListEnvelope(BaseModel, Generic[DataT]):
    data: list[DataT]
    meta: PageMeta


class UserEnvelope(DataEnvelope[UserOut]):
    """One user."""


class UserListEnvelope(ListEnvelope[UserOut]):
    """A page of users."""


class TokenEnvelope(DataEnvelope[TokenOut]):
    """A newly issued bearer token."""


class HealthEnvelope(DataEnvelope[HealthOut]):
    """Liveness."""


class ReadinessEnvelope(DataEnvelope[ReadinessOut]):
    """Readiness."""


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, str]


class ErrorEnvelope(BaseModel):
    """Every error response."""

    error: ErrorBody
    meta: Meta

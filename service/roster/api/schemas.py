"""The API's request bodies and response envelopes (what /openapi.json names)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt
from pydantic_core import PydanticCustomError

from ..http.envelope import DataEnvelope, ListEnvelope
from ..schemas import (
    DEFAULT_ROLE,
    DEFAULT_STATUS,
    MAX_ID,
    OMITTED,
    SCOPES,
    AuditEventOut,
    Email,
    KeyOut,
    Name,
    NewKeyOut,
    Password,
    Role,
    SentTimestamp,
    SessionOut,
    Status,
    TokenOut,
    UserOut,
)


class _Body(BaseModel):
    """A JSON request body: unknown fields and nulls are rejected."""

    model_config = ConfigDict(extra="forbid")


class _AcceptsReadOnly(_Body):
    """Bodies that may carry back what GET returned: read-only fields are accepted, ignored."""

    id: StrictInt = Field(default=OMITTED, ge=1, le=MAX_ID, description="Read-only; ignored.")
    created_at: SentTimestamp = Field(default=OMITTED, description="Read-only; ignored.")
    updated_at: SentTimestamp = Field(default=OMITTED, description="Read-only; ignored.")
    email_verified: StrictBool = Field(default=OMITTED, description="Read-only; ignored.")


class UserCreate(_AcceptsReadOnly):
    name: Name = Field(description="1 to 100 characters after trimming.")
    email: Email = Field(description="Trimmed and lower-cased; unique.")
    password: Password = Field(description="8 to 128 characters; write-only.")
    role: Role = Field(default=DEFAULT_ROLE, description="Only an admin may set it.")
    status: Status = Field(default=DEFAULT_STATUS, description="Only an admin may set it.")


class UserReplace(_AcceptsReadOnly):
    name: Name
    email: Email
    password: Password = Field(default=OMITTED, description="Optional; always counts as a change.")
    role: Role = Field(default=OMITTED, description="Only an admin may change it.")
    status: Status = Field(
        default=OMITTED, description="Only an admin may change it; disabling ends every session."
    )


class UserPatch(_AcceptsReadOnly):
    name: Name = Field(default=OMITTED)
    email: Email = Field(default=OMITTED)
    password: Password = Field(default=OMITTED)
    role: Role = Field(default=OMITTED, description="Only an admin may change it.")
    status: Status = Field(
        default=OMITTED, description="Only an admin may change it; disabling ends every session."
    )


class TokenCreate(_Body):
    email: str = Field(description="Matched after trimming, NFC and case folding.")
    password: str
    label: Name = Field(
        default=OMITTED,
        description="Names the session, 1 to 100 characters after trimming; by default the "
        "request's User-Agent (cut to 100 characters), or null without one.",
    )


class PasswordResetRequest(_Body):
    email: Email = Field(description="The account's address; any well-formed address is accepted.")


class PasswordResetConfirm(_Body):
    token: str = Field(min_length=1, max_length=512, description="The token the message carried.")
    password: Password = Field(description="The new password: 8 to 128 characters.")


class EmailVerificationConfirm(_Body):
    token: str = Field(min_length=1, max_length=512, description="The token the message carried.")


def _known_scopes(scopes: list[str]) -> list[str]:
    """A key's scopes: at least one, each known, none twice (one message, under `scopes`)."""
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown:
        raise PydanticCustomError("scope", "Unknown scope: {scope}", {"scope": unknown[0]})
    if len(set(scopes)) != len(scopes):
        raise PydanticCustomError("scope", "Each scope at most once")
    return scopes


Scopes = Annotated[
    list[str],
    Field(min_length=1, json_schema_extra={"items": {"type": "string", "enum": list(SCOPES)}}),
    AfterValidator(_known_scopes),
]


class KeyCreate(_Body):
    name: Name = Field(description="1 to 100 characters after trimming.")
    scopes: Scopes = Field(description="What the key may do: one or more distinct scopes.")
    expires_at: SentTimestamp = Field(
        default=OMITTED,
        description="RFC 3339, in the future and at most 366 days ahead; default: 90 days on.",
    )


class IntrospectionRequest(_Body):
    form_encoded_too: ClassVar[bool] = True  # as RFC 7662 §2.1 sends it (/openapi.json)

    token: str = Field(
        min_length=1, max_length=512, description="The session token or API key to check."
    )
    token_type_hint: str = Field(
        default=OMITTED, max_length=100, description="Accepted, and ignored (RFC 7662 §2.1)."
    )


class IntrospectionOut(BaseModel):
    """RFC 7662 §2.2, outside the envelope. Inactive: `{"active": false}` and nothing else."""

    active: bool
    token_type: Literal["Bearer"] | None = None
    sub: str | None = Field(default=None, description="The owner's user id.")
    username: str | None = Field(default=None, description="The owner's email.")
    scope: str | None = Field(default=None, description="A key's scopes, space-separated.")
    iat: int | None = None
    exp: int | None = None
    roster_kind: Literal["session", "key"] | None = None
    roster_role: Role | None = None
    roster_credential_id: int | None = None


class AcceptedOut(BaseModel):
    status: Literal["accepted"] = "accepted"


class AcceptedEnvelope(DataEnvelope[AcceptedOut]):
    """A request taken: whatever it leads to happens later, and is not told."""


class HealthOut(BaseModel):
    status: Literal["ok"] = "ok"


class ReadinessOut(BaseModel):
    status: Literal["ok"] = "ok"
    database: Literal["ok"] = "ok"


class UserEnvelope(DataEnvelope[UserOut]):
    """One user."""


class UserListEnvelope(ListEnvelope[UserOut]):
    """A page of users."""


class TokenEnvelope(DataEnvelope[TokenOut]):
    """A newly issued bearer token."""


class SessionListEnvelope(DataEnvelope[list[SessionOut]]):
    """Live sessions, newest first."""


class KeyEnvelope(DataEnvelope[KeyOut]):
    """An API key."""


class NewKeyEnvelope(DataEnvelope[NewKeyOut]):
    """An API key just created, with its secret (`key`), shown this once."""


class KeyListEnvelope(DataEnvelope[list[KeyOut]]):
    """Live API keys, newest first."""


class AuditEventListEnvelope(ListEnvelope[AuditEventOut]):
    """A page of audit events, newest first."""


class HealthEnvelope(DataEnvelope[HealthOut]):
    """Liveness."""


class ReadinessEnvelope(DataEnvelope[ReadinessOut]):
    """Readiness."""

"""Generated from Roster's /openapi.json by datamodel-code-generator: do not edit.

Regenerate with `python client/generate.py`; a test fails when this file and the
document differ."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class AcceptedOut(BaseModel):
    status: Annotated[Literal["accepted"], Field(title="Status")] = "accepted"


class CredentialOut(BaseModel):
    kind: Annotated[Literal["session", "key", "cli"], Field(title="Kind")]
    id: Annotated[int | None, Field(title="Id")]


class CursorMeta(BaseModel):
    request_id: Annotated[str, Field(title="Request Id")]
    per_page: Annotated[int, Field(title="Per Page")]
    next_cursor: Annotated[str | None, Field(title="Next Cursor")]


class EmailVerificationConfirm(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    token: Annotated[
        str,
        Field(
            description="The token the message carried.",
            max_length=512,
            min_length=1,
            title="Token",
        ),
    ]


class ErrorBody(BaseModel):
    code: Annotated[str, Field(title="Code")]
    message: Annotated[str, Field(title="Message")]
    details: Annotated[dict[str, str], Field(title="Details")]


class HealthOut(BaseModel):
    status: Annotated[Literal["ok"], Field(title="Status")] = "ok"


class IntrospectionOut(BaseModel):
    active: Annotated[bool, Field(title="Active")]
    token_type: Annotated[Literal["Bearer"] | None, Field(title="Token Type")] = None
    sub: Annotated[
        str | None, Field(description="The owner's user id.", title="Sub")
    ] = None
    username: Annotated[
        str | None, Field(description="The owner's email.", title="Username")
    ] = None
    scope: Annotated[
        str | None, Field(description="A key's scopes, space-separated.", title="Scope")
    ] = None
    iat: Annotated[int | None, Field(title="Iat")] = None
    exp: Annotated[int | None, Field(title="Exp")] = None
    roster_kind: Annotated[
        Literal["session", "key"] | None, Field(title="Roster Kind")
    ] = None
    roster_role: Annotated[
        Literal["user", "admin"] | None, Field(title="Roster Role")
    ] = None
    roster_credential_id: Annotated[int | None, Field(title="Roster Credential Id")] = (
        None
    )


class IntrospectionRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    token: Annotated[
        str,
        Field(
            description="The session token or API key to check.",
            max_length=512,
            min_length=1,
            title="Token",
        ),
    ]
    token_type_hint: Annotated[
        str | None,
        Field(
            description="Accepted, and ignored (RFC 7662 §2.1).",
            max_length=100,
            title="Token Type Hint",
        ),
    ] = None


class KeyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    name: Annotated[
        str,
        Field(
            description="1 to 100 characters after trimming.",
            min_length=1,
            pattern="^\\s*[^\\s\\x00-\\x1f\\x7f-\\x9f]([^\\x00-\\x1f\\x7f-\\x9f]{0,98}[^\\s\\x00-\\x1f\\x7f-\\x9f])?\\s*$",
            title="Name",
        ),
    ]
    scopes: Annotated[
        list[
            Literal[
                "profile:read",
                "users:read",
                "users:write",
                "audit:read",
                "tokens:introspect",
            ]
        ],
        Field(
            description="What the key may do: one or more distinct scopes.",
            min_length=1,
            title="Scopes",
        ),
    ]
    expires_at: Annotated[
        AwareDatetime | None,
        Field(
            description="RFC 3339, in the future and at most 366 days ahead; default: 90 days on.",
            title="Expires At",
        ),
    ] = None


class KeyOut(BaseModel):
    id: Annotated[int, Field(title="Id")]
    name: Annotated[str, Field(title="Name")]
    scopes: Annotated[
        list[
            Literal[
                "profile:read",
                "users:read",
                "users:write",
                "audit:read",
                "tokens:introspect",
            ]
        ],
        Field(title="Scopes"),
    ]
    prefix: Annotated[
        str,
        Field(
            description="The secret's first 9 characters, to tell keys apart.",
            title="Prefix",
        ),
    ]
    created_at: Annotated[AwareDatetime, Field(title="Created At")]
    expires_at: Annotated[AwareDatetime, Field(title="Expires At")]
    last_used_at: Annotated[AwareDatetime | None, Field(title="Last Used At")]


class Meta(BaseModel):
    request_id: Annotated[str, Field(title="Request Id")]


class NewKeyOut(BaseModel):
    id: Annotated[int, Field(title="Id")]
    name: Annotated[str, Field(title="Name")]
    scopes: Annotated[
        list[
            Literal[
                "profile:read",
                "users:read",
                "users:write",
                "audit:read",
                "tokens:introspect",
            ]
        ],
        Field(title="Scopes"),
    ]
    prefix: Annotated[
        str,
        Field(
            description="The secret's first 9 characters, to tell keys apart.",
            title="Prefix",
        ),
    ]
    created_at: Annotated[AwareDatetime, Field(title="Created At")]
    expires_at: Annotated[AwareDatetime, Field(title="Expires At")]
    last_used_at: Annotated[AwareDatetime | None, Field(title="Last Used At")]
    key: Annotated[str, Field(title="Key")]


class PageMeta(BaseModel):
    request_id: Annotated[str, Field(title="Request Id")]
    page: Annotated[int, Field(title="Page")]
    per_page: Annotated[int, Field(title="Per Page")]
    total: Annotated[int, Field(title="Total")]
    pages: Annotated[int, Field(title="Pages")]
    next_cursor: Annotated[str | None, Field(title="Next Cursor")]


class PasswordResetConfirm(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    token: Annotated[
        str,
        Field(
            description="The token the message carried.",
            max_length=512,
            min_length=1,
            title="Token",
        ),
    ]
    password: Annotated[
        str,
        Field(
            description="The new password: 8 to 128 characters.",
            max_length=128,
            min_length=8,
            title="Password",
        ),
    ]


class PasswordResetRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        regex_engine="python-re",
    )
    email: Annotated[
        str,
        Field(
            description="The account's address; any well-formed address is accepted.",
            pattern="^(?=\\s*\\S{1,254}\\s*$)\\s*[^\\s@\\x00-\\x1f\\x7f-\\x9f]+@[^\\s@.\\x00-\\x1f\\x7f-\\x9f]+(\\.[^\\s@.\\x00-\\x1f\\x7f-\\x9f]+)+\\s*$",
            title="Email",
        ),
    ]


class Problem(BaseModel):
    type: Annotated[
        Literal["about:blank"], Field(description="Always `about:blank`.", title="Type")
    ]
    title: Annotated[
        str, Field(description="The status's reason phrase.", title="Title")
    ]
    status: Annotated[int, Field(title="Status")]
    detail: Annotated[
        str, Field(description="The envelope's `message`.", title="Detail")
    ]
    code: Annotated[str, Field(title="Code")]
    details: Annotated[dict[str, str], Field(title="Details")]
    request_id: Annotated[str, Field(title="Request Id")]


class ReadinessOut(BaseModel):
    status: Annotated[Literal["ok"], Field(title="Status")] = "ok"
    database: Annotated[Literal["ok"], Field(title="Database")] = "ok"


class SessionOut(BaseModel):
    id: Annotated[int, Field(title="Id")]
    label: Annotated[str | None, Field(title="Label")]
    created_at: Annotated[AwareDatetime, Field(title="Created At")]
    expires_at: Annotated[AwareDatetime, Field(title="Expires At")]
    last_used_at: Annotated[AwareDatetime, Field(title="Last Used At")]
    client_address: Annotated[str | None, Field(title="Client Address")]
    current: Annotated[
        bool,
        Field(
            description="Whether this is the token presenting the request.",
            title="Current",
        ),
    ]


class TokenCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    email: Annotated[
        str,
        Field(
            description="Matched after trimming, NFC and case folding.", title="Email"
        ),
    ]
    password: Annotated[str, Field(title="Password")]
    label: Annotated[
        str | None,
        Field(
            description="Names the session, 1 to 100 characters after trimming; by default the request's User-Agent (cut to 100 characters), or null without one.",
            min_length=1,
            pattern="^\\s*[^\\s\\x00-\\x1f\\x7f-\\x9f]([^\\x00-\\x1f\\x7f-\\x9f]{0,98}[^\\s\\x00-\\x1f\\x7f-\\x9f])?\\s*$",
            title="Label",
        ),
    ] = None


class TokenOut(BaseModel):
    id: Annotated[
        int, Field(description="The session's id (see `GET /api/tokens`).", title="Id")
    ]
    token: Annotated[str, Field(title="Token")]
    token_type: Annotated[Literal["Bearer"], Field(title="Token Type")] = "Bearer"
    expires_at: Annotated[AwareDatetime, Field(title="Expires At")]


class UserCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        regex_engine="python-re",
    )
    id: Annotated[
        int | None, Field(description="Read-only; ignored.", ge=1, title="Id")
    ] = None
    created_at: Annotated[
        AwareDatetime | None,
        Field(description="Read-only; ignored.", title="Created At"),
    ] = None
    updated_at: Annotated[
        AwareDatetime | None,
        Field(description="Read-only; ignored.", title="Updated At"),
    ] = None
    email_verified: Annotated[
        bool | None, Field(description="Read-only; ignored.", title="Email Verified")
    ] = None
    name: Annotated[
        str,
        Field(
            description="1 to 100 characters after trimming.",
            min_length=1,
            pattern="^\\s*[^\\s\\x00-\\x1f\\x7f-\\x9f]([^\\x00-\\x1f\\x7f-\\x9f]{0,98}[^\\s\\x00-\\x1f\\x7f-\\x9f])?\\s*$",
            title="Name",
        ),
    ]
    email: Annotated[
        str,
        Field(
            description="Trimmed and lower-cased; unique.",
            pattern="^(?=\\s*\\S{1,254}\\s*$)\\s*[^\\s@\\x00-\\x1f\\x7f-\\x9f]+@[^\\s@.\\x00-\\x1f\\x7f-\\x9f]+(\\.[^\\s@.\\x00-\\x1f\\x7f-\\x9f]+)+\\s*$",
            title="Email",
        ),
    ]
    password: Annotated[
        str,
        Field(
            description="8 to 128 characters; write-only.",
            max_length=128,
            min_length=8,
            title="Password",
        ),
    ]
    role: Annotated[
        Literal["user", "admin"] | None,
        Field(description="Only an admin may set it.", title="Role"),
    ] = "user"
    status: Annotated[
        Literal["active", "disabled"] | None,
        Field(description="Only an admin may set it.", title="Status"),
    ] = "active"


class UserOut(BaseModel):
    id: Annotated[int, Field(title="Id")]
    name: Annotated[str, Field(title="Name")]
    email: Annotated[str, Field(title="Email")]
    email_verified: Annotated[bool, Field(title="Email Verified")]
    role: Annotated[Literal["user", "admin"], Field(title="Role")]
    status: Annotated[Literal["active", "disabled"], Field(title="Status")]
    created_at: Annotated[AwareDatetime, Field(title="Created At")]
    updated_at: Annotated[AwareDatetime, Field(title="Updated At")]


class UserPatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        regex_engine="python-re",
    )
    id: Annotated[
        int | None, Field(description="Read-only; ignored.", ge=1, title="Id")
    ] = None
    created_at: Annotated[
        AwareDatetime | None,
        Field(description="Read-only; ignored.", title="Created At"),
    ] = None
    updated_at: Annotated[
        AwareDatetime | None,
        Field(description="Read-only; ignored.", title="Updated At"),
    ] = None
    email_verified: Annotated[
        bool | None, Field(description="Read-only; ignored.", title="Email Verified")
    ] = None
    name: Annotated[
        str | None,
        Field(
            min_length=1,
            pattern="^\\s*[^\\s\\x00-\\x1f\\x7f-\\x9f]([^\\x00-\\x1f\\x7f-\\x9f]{0,98}[^\\s\\x00-\\x1f\\x7f-\\x9f])?\\s*$",
            title="Name",
        ),
    ] = None
    email: Annotated[
        str | None,
        Field(
            pattern="^(?=\\s*\\S{1,254}\\s*$)\\s*[^\\s@\\x00-\\x1f\\x7f-\\x9f]+@[^\\s@.\\x00-\\x1f\\x7f-\\x9f]+(\\.[^\\s@.\\x00-\\x1f\\x7f-\\x9f]+)+\\s*$",
            title="Email",
        ),
    ] = None
    password: Annotated[
        str | None, Field(max_length=128, min_length=8, title="Password")
    ] = None
    role: Annotated[
        Literal["user", "admin"] | None,
        Field(description="Only an admin may change it.", title="Role"),
    ] = None
    status: Annotated[
        Literal["active", "disabled"] | None,
        Field(
            description="Only an admin may change it; disabling ends every session.",
            title="Status",
        ),
    ] = None


class UserReplace(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        regex_engine="python-re",
    )
    id: Annotated[
        int | None, Field(description="Read-only; ignored.", ge=1, title="Id")
    ] = None
    created_at: Annotated[
        AwareDatetime | None,
        Field(description="Read-only; ignored.", title="Created At"),
    ] = None
    updated_at: Annotated[
        AwareDatetime | None,
        Field(description="Read-only; ignored.", title="Updated At"),
    ] = None
    email_verified: Annotated[
        bool | None, Field(description="Read-only; ignored.", title="Email Verified")
    ] = None
    name: Annotated[
        str,
        Field(
            min_length=1,
            pattern="^\\s*[^\\s\\x00-\\x1f\\x7f-\\x9f]([^\\x00-\\x1f\\x7f-\\x9f]{0,98}[^\\s\\x00-\\x1f\\x7f-\\x9f])?\\s*$",
            title="Name",
        ),
    ]
    email: Annotated[
        str,
        Field(
            pattern="^(?=\\s*\\S{1,254}\\s*$)\\s*[^\\s@\\x00-\\x1f\\x7f-\\x9f]+@[^\\s@.\\x00-\\x1f\\x7f-\\x9f]+(\\.[^\\s@.\\x00-\\x1f\\x7f-\\x9f]+)+\\s*$",
            title="Email",
        ),
    ]
    password: Annotated[
        str | None,
        Field(
            description="Optional; always counts as a change.",
            max_length=128,
            min_length=8,
            title="Password",
        ),
    ] = None
    role: Annotated[
        Literal["user", "admin"] | None,
        Field(description="Only an admin may change it.", title="Role"),
    ] = None
    status: Annotated[
        Literal["active", "disabled"] | None,
        Field(
            description="Only an admin may change it; disabling ends every session.",
            title="Status",
        ),
    ] = None


class AcceptedEnvelope(BaseModel):
    data: AcceptedOut
    meta: Meta


class AuditEventOut(BaseModel):
    id: Annotated[int, Field(title="Id")]
    type: Annotated[
        Literal[
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
        ],
        Field(title="Type"),
    ]
    occurred_at: Annotated[AwareDatetime, Field(title="Occurred At")]
    actor_id: Annotated[
        int | None,
        Field(
            description="The authenticated caller; null when anonymous.",
            title="Actor Id",
        ),
    ]
    credential: CredentialOut | None
    target_id: Annotated[
        int | None,
        Field(description="The user acted on; null when none.", title="Target Id"),
    ]
    client_address: Annotated[str | None, Field(title="Client Address")]
    request_id: Annotated[str | None, Field(title="Request Id")]
    details: Annotated[dict[str, Any], Field(title="Details")]


class ErrorEnvelope(BaseModel):
    error: ErrorBody
    meta: Meta


class HealthEnvelope(BaseModel):
    data: HealthOut
    meta: Meta


class KeyEnvelope(BaseModel):
    data: KeyOut
    meta: Meta


class KeyListEnvelope(BaseModel):
    data: Annotated[list[KeyOut], Field(title="Data")]
    meta: Meta


class NewKeyEnvelope(BaseModel):
    data: NewKeyOut
    meta: Meta


class ReadinessEnvelope(BaseModel):
    data: ReadinessOut
    meta: Meta


class SessionListEnvelope(BaseModel):
    data: Annotated[list[SessionOut], Field(title="Data")]
    meta: Meta


class TokenEnvelope(BaseModel):
    data: TokenOut
    meta: Meta


class UserEnvelope(BaseModel):
    data: UserOut
    meta: Meta


class UserListEnvelope(BaseModel):
    data: Annotated[list[UserOut], Field(title="Data")]
    meta: Annotated[PageMeta | CursorMeta, Field(title="Meta")]


class AuditEventListEnvelope(BaseModel):
    data: Annotated[list[AuditEventOut], Field(title="Data")]
    meta: Annotated[PageMeta | CursorMeta, Field(title="Meta")]

"""List cursors: where a listing resumes, and what it lists, in an opaque string signed with
a secret every worker and host shares (in the database), so an altered cursor is refused."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..db.database import Database
from ..db.listing import ROLES, STATUSES, Key, Listing
from ..db.models import SigningKey
from ..errors import ValidationFailed
from ..schemas import SortKey

KEY_NAME = "cursors"
_SIGNATURE_BYTES = 16
_SORTS: tuple[str, ...] = get_args(SortKey)
_keys = SigningKey.__table__.c
MALFORMED = "Malformed or altered cursor"


@dataclass(frozen=True)
class Cursor:
    listing: Listing
    per_page: int
    key: Key


class Cursors:
    """Encodes and decodes the cursors of this deployment (the secret is read once)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._secret: bytes | None = None

    async def encode(self, cursor: Cursor) -> str:
        listing = cursor.listing
        value, row_id = cursor.key
        fields = {
            "sort": listing.sort,
            "q": listing.q,
            "role": listing.role,
            "status": listing.status,
            "per_page": cursor.per_page,
            "key": [value.isoformat() if isinstance(value, datetime) else value, row_id],
        }
        payload = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()
        signature = self._sign(payload, await self._key())
        return f"{_b64(payload)}.{_b64(signature)}"

    async def decode(self, text: str) -> Cursor:
        """The cursor a client sent back, or 422 naming `cursor`."""
        payload_text, _, signature_text = text.partition(".")
        try:
            payload, signature = _unb64(payload_text), _unb64(signature_text)
        except (binascii.Error, ValueError):
            raise _malformed() from None
        if not hmac.compare_digest(signature, self._sign(payload, await self._key())):
            raise _malformed()
        try:
            return _cursor_of(json.loads(payload))
        except (ValueError, TypeError, KeyError, IndexError):
            raise _malformed() from None

    @staticmethod
    def _sign(payload: bytes, secret: bytes) -> bytes:
        return hmac.new(secret, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]

    async def _key(self) -> bytes:
        if self._secret is None:
            secret = await self._db.read(_stored_secret)
            if secret is None:  # the row was removed (a reset): make one, once, for everyone
                secret = await self._db.write(_store_secret, secrets.token_hex(32))
            self._secret = secret.encode()
        return self._secret


def _cursor_of(fields: dict[str, Any]) -> Cursor:
    sort, q, role, status = fields["sort"], fields["q"], fields["role"], fields["status"]
    per_page, (value, row_id) = fields["per_page"], fields["key"]
    if sort not in _SORTS or role not in (None, *ROLES) or status not in (None, *STATUSES):
        raise ValueError(sort)
    if not (isinstance(q, str | None) and isinstance(per_page, int) and isinstance(row_id, int)):
        raise TypeError(q)
    if sort.lstrip("-") == "created_at":
        value = datetime.fromisoformat(value)
    return Cursor(Listing(sort, q, role, status), per_page, (value, row_id))


def _malformed() -> ValidationFailed:
    return ValidationFailed(details={"cursor": MALFORMED})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _stored_secret(connection: Connection) -> str | None:
    secret: str | None = connection.execute(
        select(_keys.secret).where(_keys.name == KEY_NAME)
    ).scalar()
    return secret


def _store_secret(session: Session, secret: str) -> str:
    """Insert unless another worker did first; either way, the stored secret."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(SigningKey).values(name=KEY_NAME, secret=secret).on_conflict_do_nothing()
    )
    stored: str = session.execute(select(_keys.secret).where(_keys.name == KEY_NAME)).scalar_one()
    session.commit()
    return stored

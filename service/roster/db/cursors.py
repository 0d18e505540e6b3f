"""List cursors: where a listing resumes, and what it lists, as an opaque string
(`payload.signature`, both URL-safe base64) signed by itsdangerous with a secret every worker
and host shares, kept in the database, so that an altered cursor is refused."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, get_args

import orjson
from itsdangerous import BadData, Signer, base64_decode, base64_encode
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..errors import ValidationFailed
from ..schemas import SortKey
from .database import Database
from .list_queries import ROLES, STATUSES, Key, Listing
from .models import SigningKey

KEY_NAME = "cursors"
MALFORMED = "Malformed or altered cursor"
_SORTS: tuple[str, ...] = get_args(SortKey)
_keys = SigningKey.__table__.c
T = TypeVar("T")


@dataclass(frozen=True)
class Cursor:
    listing: Listing
    per_page: int
    key: Key


class Cursors:
    """Encodes and decodes the cursors of this deployment (the secret is read once)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._signer: Signer | None = None

    async def after(self, listing: Listing, per_page: int, key: Key | None) -> str | None:
        """The cursor that continues `listing` after `key`; None when nothing follows."""
        if key is None:
            return None
        value, row_id = key
        fields = {
            "sort": listing.sort,
            "q": listing.q,
            "role": listing.role,
            "status": listing.status,
            "per_page": per_page,
            "key": [value.isoformat() if isinstance(value, datetime) else value, row_id],
        }
        return await self.sign(fields)

    async def decode(self, text: str) -> Cursor:
        """The cursor a client sent back, or 422 naming `cursor`."""
        return await self.unsign(text, _cursor_of)

    async def sign(self, fields: dict[str, Any]) -> str:
        """`fields` (JSON values) as a signed cursor."""
        # orjson writes what json.dumps(separators=(",", ":"), ensure_ascii=False) wrote, in
        # UTF-8, at a thirtieth of the cost: S3 signs a cursor on every page.
        payload = base64_encode(orjson.dumps(fields))
        return (await self._signed()).sign(payload).decode()

    async def unsign(self, text: str, read: Callable[[dict[str, Any]], T]) -> T:
        """What `read` makes of a signed cursor's fields; 422 naming `cursor` when it is
        altered, or `read` finds it malformed (ValueError, TypeError, KeyError, IndexError)."""
        try:
            payload = (await self._signed()).unsign(text)
            return read(orjson.loads(base64_decode(payload)))
        except (BadData, ValueError, TypeError, KeyError, IndexError):
            raise ValidationFailed(details={"cursor": MALFORMED}) from None

    async def _signed(self) -> Signer:
        if self._signer is None:
            secret = await self._db.read(_stored_secret)
            if secret is None:  # the row was removed (a reset): make one, once, for everyone
                secret = await self._db.write(_store_secret, secrets.token_hex(32))
            self._signer = Signer(secret, salt=KEY_NAME, digest_method=hashlib.sha256)
        return self._signer


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

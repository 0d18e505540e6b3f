"""normalise emails: NFC and Unicode case folding

Emails were stored trimmed and lower-cased; from this revision on they are stored NFC and
case-folded (docs/API.md §3), so `ΟΔΟΣ@…`, `οδος@…` and `οδοσ@…` are one address. Existing
addresses are normalised here. Where two accounts' addresses become equal, neither row is lost:
the one already in normal form (else the older account) takes it, the other keeps its address
unchanged, and the pair is reported in the migration's log for an operator to resolve.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

import logging
import unicodedata
from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger("alembic.runtime.migration")
users = sa.table("users", sa.column("id", sa.Integer), sa.column("email", sa.String))


def normal_form(email: str) -> str:
    """The rule as of this revision (kept here: a migration must not change with the app)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", email.strip()).casefold())


def upgrade() -> None:
    connection = op.get_bind()
    groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for user_id, email in connection.execute(sa.select(users.c.id, users.c.email)):
        groups[normal_form(email)].append((user_id, email))
    for normal, members in groups.items():
        members.sort(key=lambda member: (member[1] != normal, member[0]))
        (keeper_id, keeper_email), *others = members
        if keeper_email != normal:
            connection.execute(users.update().where(users.c.id == keeper_id).values(email=normal))
        for other_id, other_email in others:
            logger.warning(
                "users %d and %d have emails that are one address once normalised (%r, %r): "
                "user %d keeps %r; resolve by hand",
                keeper_id,
                other_id,
                keeper_email,
                other_email,
                other_id,
                other_email,
            )


def downgrade() -> None:
    """Nothing to undo: the normalised addresses are valid under the older rule too."""

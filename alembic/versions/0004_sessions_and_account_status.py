"""sessions and account status

Tokens become sessions their owner can see: a label, the address they were created from, and
when they were last used. Users get a status, `active` (what every existing user becomes) or
`disabled`. Every new column has a server default, so rows loaded with plain SQL (the v1
columns only) are complete.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tokens") as tokens:
        tokens.add_column(sa.Column("label", sa.String(100), nullable=True))
        tokens.add_column(sa.Column("client_address", sa.String(45), nullable=True))
        tokens.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("users") as users:
        users.add_column(
            sa.Column("status", sa.String(16), nullable=False, server_default="active")
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as users:
        users.drop_column("status")
    with op.batch_alter_table("tokens") as tokens:
        tokens.drop_column("last_used_at")
        tokens.drop_column("client_address")
        tokens.drop_column("label")

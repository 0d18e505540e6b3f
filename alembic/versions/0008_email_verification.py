"""email verification

Users get `email_verified`: false for every existing user (nobody has proved their address yet,
docs/API.md §3), with a server default so rows loaded with plain SQL are complete. The tokens
a verification message carries live in `mail_tokens` beside the reset tokens (their purpose
tells them apart).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN with a constant default: PostgreSQL does not rewrite the table, and
    # SQLite needs no copy (a batch operation would copy it, and lose its triggers).
    op.add_column(
        "users",
        sa.Column("email_verified", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("users", "email_verified")  # SQLite 3.35+ drops a column in place

"""known login addresses

Where each user last logged in from, and when: an address from which a user logged in lately
is let through the per-account login limit, so that failures from elsewhere cannot lock the
user out (docs/API.md §2).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_addresses",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("address", sa.String(45), nullable=False),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_login_addresses_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "address", name=op.f("pk_login_addresses")),
    )
    op.create_index("ix_login_addresses_last_success_at", "login_addresses", ["last_success_at"])


def downgrade() -> None:
    op.drop_index("ix_login_addresses_last_success_at", table_name="login_addresses")
    op.drop_table("login_addresses")

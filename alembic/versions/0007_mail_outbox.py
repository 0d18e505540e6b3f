"""mail outbox and password resets

Messages written in the transaction of the change that causes them and sent after it commits,
by whichever serving process claims them first, with retries (docs/API.md §6, Delivery); the
one-use tokens mail carries, kept as hashes (password resets).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(32), server_default="message", nullable=False),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("recipient_name", sa.String(100), nullable=True),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("state", sa.String(16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
    )
    op.create_index(
        "ix_mail_outbox_state_next_attempt_at", "mail_outbox", ["state", "next_attempt_at"]
    )
    op.create_table(
        "mail_tokens",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_mail_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_mail_tokens_token_hash")),
    )
    op.create_index("ix_mail_tokens_user_id_purpose", "mail_tokens", ["user_id", "purpose"])
    op.create_index("ix_mail_tokens_expires_at", "mail_tokens", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_mail_tokens_expires_at", table_name="mail_tokens")
    op.drop_index("ix_mail_tokens_user_id_purpose", table_name="mail_tokens")
    op.drop_table("mail_tokens")
    op.drop_index("ix_mail_outbox_state_next_attempt_at", table_name="mail_outbox")
    op.drop_table("mail_outbox")

"""audit log

Every change to an account and every use of a credential that matters (docs/API.md §7), one row
per event, written in the transaction of its change. Read newest first behind a time range, one
actor, one target or one type: an index for each, ending in (occurred_at, id), the listing's
order. No foreign keys: an event outlives what it names. A password reset request in the mail
outbox keeps its client address and request id, for the event its sender writes.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FILTERED = ("actor_id", "target_id", "type")


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", Id, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("credential_kind", sa.String(8), nullable=True),
        sa.Column("credential_id", sa.BigInteger(), nullable=True),
        sa.Column("target_id", sa.BigInteger(), nullable=True),
        sa.Column("client_address", sa.String(45), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column(
            "details", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_audit_events_occurred_at_id", "audit_events", ["occurred_at", "id"])
    for name in FILTERED:
        op.create_index(
            f"ix_audit_events_{name}_occurred_at_id", "audit_events", [name, "occurred_at", "id"]
        )
    # Plain ADD COLUMN (nullable): a batch operation would copy the table on SQLite.
    op.add_column("mail_outbox", sa.Column("client_address", sa.String(45), nullable=True))
    op.add_column("mail_outbox", sa.Column("request_id", sa.String(128), nullable=True))


def downgrade() -> None:
    op.drop_column("mail_outbox", "request_id")  # SQLite 3.35+ drops a column in place
    op.drop_column("mail_outbox", "client_address")
    for name in FILTERED:
        op.drop_index(f"ix_audit_events_{name}_occurred_at_id", table_name="audit_events")
    op.drop_index("ix_audit_events_occurred_at_id", table_name="audit_events")
    op.drop_table("audit_events")

"""lists at scale: sort and filter indexes, exact counts, substring search, a cursor key

Every list order gets an index with its `id` tie-break, also behind the filters' (role,
status) prefix. `user_counts` holds how many users have each (role, status), kept by triggers,
so `total` never counts rows. Search gets a substring index: on SQLite an external-content
FTS5 table with the trigram tokenizer, on PostgreSQL pg_trgm GIN indexes on `lower(name)` and
`lower(email)`. Triggers and indexes live in the database, so rows written with plain SQL (a
bulk import of the v1 columns, say) are counted and found like any other. `signing_keys`
gets the secret list cursors are signed with, shared by every worker and host.

On SQLite a later `batch_alter_table("users")` recreates the table and drops its triggers:
such a migration must create them again (`create_sqlite_triggers`).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SORTED_COLUMNS = ("name", "created_at")

SQLITE_TRIGGERS = (
    """CREATE TRIGGER users_count_insert AFTER INSERT ON users BEGIN
        INSERT OR IGNORE INTO user_counts (role, status, n) VALUES (NEW.role, NEW.status, 0);
        UPDATE user_counts SET n = n + 1 WHERE role = NEW.role AND status = NEW.status;
    END""",
    """CREATE TRIGGER users_count_delete AFTER DELETE ON users BEGIN
        UPDATE user_counts SET n = n - 1 WHERE role = OLD.role AND status = OLD.status;
    END""",
    """CREATE TRIGGER users_count_update AFTER UPDATE OF role, status ON users
    WHEN OLD.role IS NOT NEW.role OR OLD.status IS NOT NEW.status BEGIN
        UPDATE user_counts SET n = n - 1 WHERE role = OLD.role AND status = OLD.status;
        INSERT OR IGNORE INTO user_counts (role, status, n) VALUES (NEW.role, NEW.status, 0);
        UPDATE user_counts SET n = n + 1 WHERE role = NEW.role AND status = NEW.status;
    END""",
    """CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN
        INSERT INTO users_search (rowid, name, email) VALUES (NEW.id, NEW.name, NEW.email);
    END""",
    """CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN
        INSERT INTO users_search (users_search, rowid, name, email)
        VALUES ('delete', OLD.id, OLD.name, OLD.email);
    END""",
    """CREATE TRIGGER users_search_update AFTER UPDATE OF name, email ON users BEGIN
        INSERT INTO users_search (users_search, rowid, name, email)
        VALUES ('delete', OLD.id, OLD.name, OLD.email);
        INSERT INTO users_search (rowid, name, email) VALUES (NEW.id, NEW.name, NEW.email);
    END""",
)
SQLITE_TRIGGER_NAMES = (
    "users_count_insert",
    "users_count_delete",
    "users_count_update",
    "users_search_insert",
    "users_search_delete",
    "users_search_update",
)

# Statement-level, over transition tables: one change to each counter a statement touches,
# however many rows it writes (a row trigger would update one counter row a million times in
# a bulk load's transaction, each time slower on PostgreSQL's growing chain of row versions).
POSTGRESQL_COUNTING = (
    """CREATE FUNCTION roster_count_users() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'TRUNCATE' THEN
            UPDATE user_counts SET n = 0;
        ELSIF TG_OP = 'INSERT' THEN
            INSERT INTO user_counts (role, status, n)
            SELECT role, status, count(*) FROM new_rows GROUP BY role, status ORDER BY 1, 2
            ON CONFLICT (role, status) DO UPDATE SET n = user_counts.n + EXCLUDED.n;
        ELSIF TG_OP = 'DELETE' THEN
            UPDATE user_counts SET n = user_counts.n - gone.n
            FROM (SELECT role, status, count(*) AS n FROM old_rows GROUP BY role, status) gone
            WHERE user_counts.role = gone.role AND user_counts.status = gone.status;
        ELSE
            INSERT INTO user_counts (role, status, n)
            SELECT role, status, sum(change) FROM (
                SELECT role, status, -1 AS change FROM old_rows
                UNION ALL SELECT role, status, 1 FROM new_rows
            ) changes GROUP BY role, status HAVING sum(change) <> 0 ORDER BY 1, 2
            ON CONFLICT (role, status) DO UPDATE SET n = user_counts.n + EXCLUDED.n;
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER users_count_insert AFTER INSERT ON users
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION roster_count_users()""",
    """CREATE TRIGGER users_count_delete AFTER DELETE ON users
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION roster_count_users()""",
    """CREATE TRIGGER users_count_update AFTER UPDATE ON users
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION roster_count_users()""",
    """CREATE TRIGGER users_count_truncate AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION roster_count_users()""",
)


def upgrade() -> None:
    create_list_indexes()
    op.create_table(
        "user_counts",
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("n", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("role", "status", name="pk_user_counts"),
    )
    op.create_table(
        "signing_keys",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_signing_keys"),
    )
    op.execute(
        sa.text("INSERT INTO signing_keys (name, secret) VALUES ('cursors', :secret)").bindparams(
            secret=secrets.token_hex(32)
        )
    )
    if op.get_context().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE users_search USING fts5(name, email, content='users', "
            "content_rowid='id', tokenize='trigram case_sensitive 0')"
        )
        create_sqlite_triggers()
        op.execute("INSERT INTO users_search (users_search) VALUES ('rebuild')")
    else:
        for statement in POSTGRESQL_COUNTING:
            op.execute(statement)
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for column in ("name", "email"):
            op.execute(
                f"CREATE INDEX ix_users_{column}_trgm ON users "
                f"USING gin (lower({column}) gin_trgm_ops)"
            )
    # Counted after the triggers exist, in the same transaction: nothing is counted twice.
    op.execute(
        "INSERT INTO user_counts (role, status, n) "
        "SELECT role, status, count(*) FROM users GROUP BY role, status"
    )


def create_sqlite_triggers() -> None:
    for statement in SQLITE_TRIGGERS:
        op.execute(statement)


def create_list_indexes() -> None:
    op.create_index("ix_users_role_status_id", "users", ["role", "status", "id"])
    op.create_index("ix_users_role_status_email", "users", ["role", "status", "email"])
    for name in SORTED_COLUMNS:
        down = sa.text(f"{name} DESC")
        op.create_index(f"ix_users_{name}_id", "users", [name, "id"])
        op.create_index(f"ix_users_{name}_desc_id", "users", [down, "id"])
        op.create_index(f"ix_users_role_status_{name}_id", "users", ["role", "status", name, "id"])
        op.create_index(
            f"ix_users_role_status_{name}_desc_id", "users", ["role", "status", down, "id"]
        )


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        for trigger in SQLITE_TRIGGER_NAMES:
            op.execute(f"DROP TRIGGER {trigger}")
        op.execute("DROP TABLE users_search")
    else:
        for event in ("truncate", "update", "delete", "insert"):
            op.execute(f"DROP TRIGGER users_count_{event} ON users")
        op.execute("DROP FUNCTION roster_count_users()")
        op.execute("DROP INDEX ix_users_email_trgm")
        op.execute("DROP INDEX ix_users_name_trgm")
    op.drop_table("signing_keys")
    op.drop_table("user_counts")
    for name in reversed(SORTED_COLUMNS):
        for index in (
            f"ix_users_role_status_{name}_desc_id",
            f"ix_users_role_status_{name}_id",
            f"ix_users_{name}_desc_id",
            f"ix_users_{name}_id",
        ):
            op.drop_index(index, "users")
    op.drop_index("ix_users_role_status_email", "users")
    op.drop_index("ix_users_role_status_id", "users")

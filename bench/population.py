"""Users seeded straight into a migrated database (not over HTTP): fast enough for a million,
and through plain SQL of the v1 columns only, as a bulk import writes them.

Every scale holds the same probes: `user{n//2}@` matches one user, `zebra` matches 1,000 (or
every user, below 1,000); 1 % are admins, 5 % disabled; names repeat (sorting meets ties).
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta

import asyncpg

FIRST = ("Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim")
LAST = ("Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson")
BROAD = 1000  # how many users `zebra` finds
PASSWORD_HASH = "$argon2id$v=19$m=8,t=1,p=1$c2VlZHNlZWRzZWVk$Zm9yYmVuY2hvbmx5bm90YWhhc2g"  # noqa: S105 (matches no password)
START = datetime(2020, 1, 1, tzinfo=UTC)
COLUMNS = ("name", "email", "password_hash", "role", "created_at", "updated_at")
INSERT = f"INSERT INTO users ({', '.join(COLUMNS)}) VALUES ({{}})"  # noqa: S608 (constants)


def selective_q(users: int) -> str:
    return f"user{users // 2}@"


def _row(i: int, users: int) -> tuple[str, str, str, str, datetime, datetime]:
    every = max(1, users // BROAD)
    name = f"{FIRST[i % len(FIRST)]} {LAST[(i // len(FIRST)) % len(LAST)]}"
    if i % every == 0:
        name += " Zebra"
    role = "admin" if i % 100 == 7 else "user"
    created = START + timedelta(seconds=i * 37 % (users * 3 + 1))
    return name, f"user{i}@example.com", PASSWORD_HASH, role, created, created


def _stored(row: tuple[str, str, str, str, datetime, datetime]) -> tuple[str, ...]:
    """As SQLAlchemy stores a timestamp in SQLite."""
    *text, created, updated = row
    return (*text, *(moment.strftime("%Y-%m-%d %H:%M:%S.%f") for moment in (created, updated)))


def seed_sqlite(path: str, users: int) -> float:
    """Seconds taken to insert `users` rows (the triggers fire on each, as on any insert)."""
    began = time.perf_counter()
    connection = sqlite3.connect(path)
    try:
        with connection:
            connection.executemany(
                INSERT.format(", ".join("?" * 6)),
                (
                    (
                        n,
                        e,
                        h,
                        r,
                        c.strftime("%Y-%m-%d %H:%M:%S.%f"),
                        u.strftime("%Y-%m-%d %H:%M:%S.%f"),
                    )
                    for n, e, h, r, c, u in (_row(i, users) for i in range(users))
                ),
            )
            connection.execute("UPDATE users SET status = 'disabled' WHERE id % 20 = 3")
        connection.execute("ANALYZE")
    finally:
        connection.close()
    return time.perf_counter() - began


async def seed_postgresql(dsn: str, users: int) -> float:
    began = time.perf_counter()
    connection = await asyncpg.connect(dsn)
    try:
        async with connection.transaction():
            # COPY, as bulk loads do: the row triggers fire as for INSERT.
            await connection.copy_records_to_table(
                "users",
                records=(_row(i, users) for i in range(users)),
                columns=COLUMNS,
            )
            await connection.execute("UPDATE users SET status = 'disabled' WHERE id % 20 = 3")
        await connection.execute("ANALYZE users")
    finally:
        await connection.close()
    return time.perf_counter() - began

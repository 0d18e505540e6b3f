"""`python -m bench.plans DATABASE_URL`: the query plan of every list query shape Roster runs
(EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL), for a database seeded by
`bench.population`: first pages and pages after a key, each sort, each filter, each `q` path."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from roster.db.connect import open_database
from roster.db.list_queries import Listing, plan_statements
from roster.settings import Settings

LISTINGS = (
    Listing("id"),
    Listing("-name"),
    Listing("created_at"),
    Listing("-email"),
    Listing("name", role="admin"),
    Listing("-created_at", status="disabled"),
    Listing("-name", role="user", status="active"),
    Listing("id", q="user500000@"),
    Listing("name", q="zebra"),
    Listing("id", q="e"),
    Listing("id", q="zé"),
)
KEYS: dict[str, Any] = {
    "id": 500_000,
    "name": "Grace Hopper",
    "email": "user5@example.com",
    "created_at": datetime(2021, 1, 1, tzinfo=UTC),
}


def explain(connection: Connection) -> str:
    prefix = "EXPLAIN QUERY PLAN " if connection.dialect.name == "sqlite" else "EXPLAIN "
    lines = []
    for listing in LISTINGS:
        after = (KEYS[listing.sort.lstrip("-")], 500_000)
        for title, statement in plan_statements(connection, listing, after):
            sql = statement.compile(
                dialect=connection.dialect, compile_kwargs={"literal_binds": True}
            )
            rows = connection.execute(text(prefix + str(sql).replace(":", r"\:"))).all()
            lines.append(f"## {listing} — {title}")
            lines += [f"    {row[-1]}" for row in rows]
    return "\n".join(lines)


async def main(url: str) -> None:
    db = open_database(Settings(database_url=url, metrics_enabled=False))
    try:
        print(await db.read(explain))
    finally:
        await db.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))

"""`python -m bench.driver_cost`: the CPU one primary-key SELECT costs the client process on
PostgreSQL, by the ways Roster could send it — SQLAlchemy's async connection (`run_sync` of a
unit of work, as every unit runs), asyncpg on a connection of SQLAlchemy's pool (as
`Database.first` sends the caller's read), and asyncpg's own pool. 64 tasks at once on one
event loop, as a served worker runs them; the figure is process CPU time per statement (user
and system), so the server's own work is not in it.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from . import postgres

ROWS = 1000
TASKS = 64
SQL = "SELECT id, name, email, created_at FROM driver_cost WHERE id = $1"
Query = Callable[[int], Awaitable[Any]]


async def prepare(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "CREATE TABLE driver_cost (id int PRIMARY KEY, name text, email text, "
                "created_at timestamptz)"
            )
        )
        await connection.execute(
            text(
                "INSERT INTO driver_cost SELECT i, 'n' || i, 'e' || i, now() "
                "FROM generate_series(1, :rows) i"
            ),
            {"rows": ROWS},
        )


def ways(engine: AsyncEngine, pool: asyncpg.Pool) -> dict[str, Query]:
    statement = text(SQL.replace("$1", ":id"))

    def unit(connection: Connection, key: int) -> Any:
        return connection.execute(statement, {"id": key}).first()

    async def sqlalchemy(key: int) -> Any:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            return await connection.run_sync(unit, key)

    async def asyncpg_on_sqlalchemy_pool(key: int) -> Any:
        pooled = await engine.raw_connection()
        try:
            return await pooled.driver_connection.fetchrow(SQL, key)  # type: ignore[union-attr]
        finally:
            pooled.close()

    async def asyncpg_pool(key: int) -> Any:
        async with pool.acquire() as connection:
            return await connection.fetchrow(SQL, key)

    return {
        "SQLAlchemy AsyncConnection.run_sync": sqlalchemy,
        "asyncpg on a connection of SQLAlchemy's pool": asyncpg_on_sqlalchemy_pool,
        "asyncpg's own pool": asyncpg_pool,
    }


async def cpu_per_statement(query: Query, statements: int) -> float:
    async def task(first: int) -> None:
        for n in range(first, statements, TASKS):
            await query(n % ROWS + 1)

    await asyncio.gather(*(task(first) for first in range(TASKS)))  # warm
    started = time.process_time()
    await asyncio.gather(*(task(first) for first in range(TASKS)))
    return (time.process_time() - started) / statements


async def measure(url: str, statements: int, rounds: int) -> dict[str, list[float]]:
    engine = create_async_engine(url, pool_size=20, max_overflow=0, pool_reset_on_return=None)
    pool = await asyncpg.create_pool(url.replace("+asyncpg", ""), min_size=20, max_size=20)
    try:
        await prepare(engine)
        figures: dict[str, list[float]] = {}
        for _ in range(rounds):  # interleaved: a slow moment falls on every way alike
            for name, query in ways(engine, pool).items():
                figures.setdefault(name, []).append(await cpu_per_statement(query, statements))
        return figures
    finally:
        await pool.close()
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.driver_cost", description=__doc__)
    parser.add_argument("--statements", type=int, default=6000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    url = postgres.create_database("_driver")
    try:
        figures = asyncio.run(measure(url, args.statements, args.rounds))
    finally:
        postgres.drop_database(url)
    print("| way | µs of client CPU per statement (each round) |\n|---|---|")
    for name, values in figures.items():
        print(f"| {name} | {' / '.join(f'{value * 1e6:.0f}' for value in values)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

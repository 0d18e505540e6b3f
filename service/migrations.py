"""Alembic, driven from code: `roster migrate`, `roster serve` and the tests use this."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from alembic import command

_REPOSITORY = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str) -> Config:
    config = Config(str(_REPOSITORY / "alembic.ini"))
    config.set_main_option("script_location", str(_REPOSITORY / "alembic"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)

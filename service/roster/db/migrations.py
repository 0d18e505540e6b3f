"""Alembic, driven from code: `roster migrate`, `roster serve`, readiness and the tests use it.

The migration scripts are the repository's top-level `alembic/` folder. A wheel carries them
inside the package (`roster/_alembic`); a source checkout (an editable install) runs them
where they are.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from alembic import command

_PACKAGE = Path(__file__).resolve().parent.parent
INSTALLED_SCRIPTS = _PACKAGE / "_alembic"
_CHECKOUT = _PACKAGE.parent.parent  # a source checkout: service/roster/ is two levels down
CHECKOUT_SCRIPTS = _CHECKOUT / "alembic"


# What the migrations make that the models cannot express: SQLite's search table (FTS5 and its
# shadow tables) and PostgreSQL's trigram indexes. Comparing models with a database skips them.
_UNMODELLED_TABLE_PREFIX = "users_search"
_UNMODELLED_INDEX_SUFFIX = "_trgm"


def modelled(name: str | None, type_: str, _parent_names: object = None) -> bool:
    """Alembic's `include_name`: False for the objects the models do not describe."""
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith(_UNMODELLED_TABLE_PREFIX)
    if type_ == "index":
        return not name.endswith(_UNMODELLED_INDEX_SUFFIX)
    return True


class MigrationsMissing(RuntimeError):
    """Neither the installed package nor a source checkout holds the migration scripts."""


def script_location() -> Path:
    """Where `env.py` and `versions/` are: in the installed package, else in the checkout."""
    if (INSTALLED_SCRIPTS / "env.py").is_file():
        return INSTALLED_SCRIPTS
    # A checkout: its root holds alembic.ini beside the scripts.
    if (CHECKOUT_SCRIPTS / "env.py").is_file() and (_CHECKOUT / "alembic.ini").is_file():
        return CHECKOUT_SCRIPTS
    raise MigrationsMissing(
        f"no migration scripts in {INSTALLED_SCRIPTS} nor in {CHECKOUT_SCRIPTS}: "
        "reinstall roster-api"
    )


def alembic_config(database_url: str) -> Config:
    """A configuration built in code, so no `alembic.ini` is needed at run time."""
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


@cache
def head_revision() -> str:
    """The newest revision the installed scripts know: what this release needs."""
    head = ScriptDirectory(str(script_location())).get_current_head()
    if head is None:
        raise MigrationsMissing(f"no revisions in {script_location()}")
    return head


@cache
def known_revisions() -> frozenset[str]:
    scripts = ScriptDirectory(str(script_location()))
    return frozenset(revision.revision for revision in scripts.walk_revisions())


def schema_problem(revision: str | None) -> str | None:
    """Why a database at `revision` cannot serve this release, or None when it can.

    A revision these scripts do not know was made by a newer release: migrations only add,
    so this release still works on it (a rolling upgrade keeps the old instances serving).
    """
    if revision is None:
        return "Not migrated: run `roster migrate`"
    head = head_revision()
    if revision != head and revision in known_revisions():
        return f"At revision {revision}; this release needs {head}: run `roster migrate`"
    return None

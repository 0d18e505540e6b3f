"""The `roster` command: migrate, create-user, serve, send-test-mail."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from . import __version__
from .api.schemas import UserCreate
from .db import migrations, outage, postgresql
from .db.audit import CLI
from .db.connect import open_database
from .db.database import Database
from .domain.delivery import SEND_TIMEOUT_SECONDS, send_now
from .domain.passwords import Passwords
from .domain.users import create_user
from .errors import Conflict
from .mail.messages import Mail
from .mail.transports import Undelivered, transport_for
from .schemas import DEFAULT_ROLE, clean_email
from .serving.logs import configure_logging
from .serving.processes import CannotListen, hypercorn_config, listen, serve
from .settings import Settings, SettingsError

logger = logging.getLogger("roster.serve")
PASSWORD_VARIABLE = "ROSTER_PASSWORD"  # noqa: S105 (the name of a variable, not a secret)


class CommandFailed(Exception):
    """What to tell the operator, as `roster: <message>`, before exiting 1."""


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        configure_logging(settings.log_level, settings.log_format, settings.log_batch_seconds)
        if args.command == "migrate":
            return _migrate(settings)
        if args.command == "create-user":
            return _create_user(settings, args)
        if args.command == "send-test-mail":
            return _send_test_mail(settings, args.to)
        return _serve(settings, args)
    except (SettingsError, CommandFailed, CannotListen, migrations.MigrationsMissing) as error:
        return _fail(str(error))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roster", description="Roster users and tokens API")
    parser.add_argument("--version", action="version", version=f"roster {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="bring DATABASE_URL to the newest schema")
    create = commands.add_parser("create-user", help="create a user and print it as JSON")
    create.add_argument("--name", required=True)
    create.add_argument("--email", required=True)
    secret = create.add_mutually_exclusive_group()
    secret.add_argument(
        "--password", help="the password on the command line (seen in ps and shell history)"
    )
    secret.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    create.add_argument("--admin", action="store_true", help="make the user an admin")
    serve_command = commands.add_parser("serve", help="migrate, then serve with hypercorn")
    serve_command.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve_command.add_argument("--port", type=int, help="port to listen on (default 8000)")
    serve_command.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve_command.add_argument(
        "--config", type=Path, help="a hypercorn TOML file (TLS, binds…); flags win over it"
    )
    mail = commands.add_parser(
        "send-test-mail", help="deliver one message through MAIL_URL now, and say what happened"
    )
    mail.add_argument("--to", required=True, metavar="ADDRESS")
    return parser


def _migrate(settings: Settings) -> int:
    _upgrade(settings)
    print(f"roster: database at revision {migrations.head_revision()}", file=sys.stderr)
    return 0


def _upgrade(settings: Settings) -> None:
    problem = outage.sqlite_file_problem(settings.database_url)
    if problem is not None:
        raise CommandFailed(problem)
    try:
        migrations.upgrade(settings.database_url)
    except Exception as error:
        raise _unusable(error, settings) from None


def _create_user(settings: Settings, args: argparse.Namespace) -> int:
    role = "admin" if args.admin else DEFAULT_ROLE
    password = _password(args)
    try:
        data = UserCreate(name=args.name, email=args.email, password=password, role=role)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors(include_input=False, include_url=False)
        )
        raise CommandFailed(f"invalid value: {problems}") from None
    print(asyncio.run(_insert_user(settings, data)))
    return 0


async def _insert_user(settings: Settings, data: UserCreate) -> str:
    db = open_database(settings)
    passwords = Passwords(settings.password_hashing)
    try:
        await _require_current_schema(db, settings)
        user = await create_user(
            db, passwords, data.name, data.email, data.password, data.role, CLI
        )
        return user.model_dump_json()
    except Conflict:
        raise CommandFailed(f"a user with email {data.email} already exists") from None
    finally:
        passwords.close()
        await db.close()


async def _require_current_schema(db: Database, settings: Settings) -> None:
    try:
        revision = await db.schema_revision()
    except Exception as error:
        raise _unusable(error, settings) from None
    problem = migrations.schema_problem(revision)
    if problem is not None:
        raise CommandFailed(f"the database is not ready: {problem}")


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    bind = None
    if args.host is not None or args.port is not None:
        bind = f"{args.host or '127.0.0.1'}:{args.port or 8000}"
    config = hypercorn_config(settings, args.config, bind, args.workers)
    sockets = listen(config)  # a port another server holds stops us before anything else
    _upgrade(settings)
    logger.info("database at revision %s", migrations.head_revision())
    if not settings.is_sqlite:
        problem = asyncio.run(postgresql.budget_problem(settings, config.workers))
        if problem is not None:
            logger.warning(problem)
    return serve(config, settings, sockets)


def _password(args: argparse.Namespace) -> str:
    """From --password, standard input (--password-stdin), ROSTER_PASSWORD, or a prompt."""
    if args.password is not None:
        return str(args.password)
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if PASSWORD_VARIABLE in os.environ:
        return os.environ[PASSWORD_VARIABLE]
    if not sys.stdin.isatty():
        raise CommandFailed(
            f"no password: use --password-stdin, {PASSWORD_VARIABLE}, or a terminal"
        )
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password (again): ") != first:
        raise CommandFailed("the passwords differ")
    return first


def _send_test_mail(settings: Settings, to: str) -> int:
    """One message through MAIL_URL, not through the outbox: the mail server's answer."""
    try:
        address = clean_email(to)
    except PydanticCustomError as error:
        raise CommandFailed(f"--to {to!r}: {error.message()}") from None
    mail = Mail(
        to=address,
        subject="Roster: a test message",
        body=f"This message was sent by `roster send-test-mail` through {settings.mail_url}.\n",
    )
    transport = transport_for(settings.mail_url, SEND_TIMEOUT_SECONDS)
    try:
        reply = asyncio.run(send_now(transport, settings, mail))
    except Undelivered as error:
        raise CommandFailed(f"the message to {address} was not sent: {error}") from None
    print(f"roster: sent to {address} through {settings.mail_url}: {reply.strip()}")
    return 0


def _unusable(error: Exception, settings: Settings) -> Exception:
    """The operator's one line for a database that cannot be used; other errors as they are."""
    explained = outage.explain(error, settings.database_url)
    return error if explained is None else CommandFailed(explained)


def _fail(message: str) -> int:
    print(f"roster: {message}", file=sys.stderr)
    return 1

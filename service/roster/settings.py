"""Configuration: one immutable object, read from the environment by the entry points
(`Settings.from_env()`); `Settings(...)` alone is exactly what it is given, nothing more.

Each field is its variable (`token_ttl_seconds` is `TOKEN_TTL_SECONDS`); pydantic-settings reads
them, and a value the service cannot use stops it with one line naming the variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.policy import SMTPUTF8
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import BeforeValidator, Field, ValidationError
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./roster.db"
_RATE_PATTERN = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(second|minute|hour|day)s?\s*$")
_PERIOD_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
# What other tools write for the two databases, and the async driver Roster runs them with.
_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}
DATABASE_URL_FORMS = "sqlite+aiosqlite:///path/to/roster.db or postgresql+asyncpg://user@host/db"


# Variables of earlier releases that no longer mean anything: refused, not silently ignored.
REPLACED = dict.fromkeys(
    ("DB_POOL_SIZE", "DB_MAX_OVERFLOW"),
    "set DB_CONNECTIONS, every PostgreSQL connection a worker holds (README)",
)


class SettingsError(ValueError):
    """A configuration variable holds a value the service cannot use."""


@dataclass(frozen=True)
class RateLimit:
    """At most `limit` events per `window_seconds`."""

    limit: int
    window_seconds: int

    @classmethod
    def parse(cls, text: str, name: str = "LOGIN_RATE_LIMIT") -> RateLimit:
        """Parse `10/minute`, `5/30second`, `100/hour`…"""
        try:
            return _rate(text)
        except PydanticCustomError as error:
            raise SettingsError(f"{name} {error.message()}") from None


@dataclass(frozen=True)
class LoginLimits:
    """The login limits of a deployment (None: off; docs/API.md §2)."""

    email: RateLimit  # one email from one client address
    account: RateLimit | None  # one email from every address but the known ones
    address: RateLimit | None  # one client address, whatever the email
    known_for: timedelta  # how long an address a user logged in from stays known

    @property
    def longest_window(self) -> timedelta:
        rules = [rule for rule in (self.email, self.account, self.address) if rule is not None]
        return timedelta(seconds=max(rule.window_seconds for rule in rules))


@dataclass(frozen=True)
class PasswordHashing:
    """argon2id cost parameters, and the threads that compute them."""

    memory_kib: int
    time_cost: int
    parallelism: int
    workers: int  # threads hashing at once; 0: one per CPU core this process may use
    niceness: int  # CPU priority of those threads (0-19): request handling comes first

    def as_settings(self) -> dict[str, Any]:
        """These parameters as the settings that hold them (`ARGON2_*`, `PASSWORD_HASH_*`)."""
        return {
            "argon2_memory_kib": self.memory_kib,
            "argon2_time_cost": self.time_cost,
            "argon2_parallelism": self.parallelism,
            "password_hash_workers": self.workers,
            "password_hash_niceness": self.niceness,
        }


MAIL_URL_FORMS = "log:, smtp://[user:password@]host:port[?starttls=require] or smtps://..."


@dataclass(frozen=True)
class MailUrl:
    """Where mail goes (MAIL_URL, docs/API.md §6): `log`, or an SMTP server (`smtp`, upgraded
    with STARTTLS when offered or, `require_starttls`, refused without it; `smtps`: TLS from
    the start)."""

    scheme: Literal["log", "smtp", "smtps"]
    host: str | None = None
    port: int | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    require_starttls: bool = False

    @classmethod
    def parse(cls, text: str) -> MailUrl:
        try:
            return _mail_url(text)
        except PydanticCustomError as error:
            raise SettingsError(f"MAIL_URL {error.message()}") from None

    def __str__(self) -> str:
        """The URL without its password (for logs and messages)."""
        if self.scheme == "log":
            return "log:"
        user = f"{self.username}@" if self.username else ""
        query = "?starttls=require" if self.require_starttls else ""
        return f"{self.scheme}://{user}{self.host}:{self.port}{query}"


def _mail_url(value: Any) -> MailUrl:
    if isinstance(value, MailUrl):
        return value
    parts = urlsplit(str(value).strip())
    scheme = parts.scheme.lower()
    if scheme == "log":
        return MailUrl("log")
    if scheme not in ("smtp", "smtps"):
        raise PydanticCustomError("mail_url", f"must be {MAIL_URL_FORMS}, not {value!r}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise PydanticCustomError("mail_url", f"needs a host and a port number: {MAIL_URL_FORMS}")
    query = parse_qs(parts.query)
    starttls = [item.lower() for item in query.pop("starttls", [])]
    if query or starttls not in ([], ["require"]) or (scheme == "smtps" and starttls):
        raise PydanticCustomError("mail_url", "takes only ?starttls=require, and only smtp://")
    return MailUrl(
        "smtps" if scheme == "smtps" else "smtp",
        parts.hostname,
        port,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
        require_starttls=bool(starttls),
    )


def _mail_from(value: Any) -> str:
    """One address, with or without a display name: `Roster <noreply@example.com>`."""
    text = str(value).strip()
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise PydanticCustomError("mail_from", f"must be one line, not {value!r}")
    try:
        addresses: tuple[Address, ...] = SMTPUTF8.header_factory("from", text).addresses
    except (HeaderParseError, IndexError, ValueError):
        addresses = ()
    if len(addresses) != 1 or not addresses[0].domain:
        raise PydanticCustomError("mail_from", f"must be one address, not {value!r}")
    return str(addresses[0])


def _public_url(value: Any) -> str:
    text = str(value).strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise PydanticCustomError("public_url", f"must be an http(s) URL, not {value!r}")
    return text


def _link_template(value: Any) -> str:
    text = str(value).strip()
    if "{token}" not in text:
        raise PydanticCustomError("link", f"must hold {{token}}, where the token goes: {value!r}")
    _public_url(text.replace("{token}", "x").split("?")[0])
    return text


def _rate(value: Any) -> RateLimit:
    if isinstance(value, RateLimit):
        return value
    match = _RATE_PATTERN.match(str(value))
    if match is None:
        raise PydanticCustomError("rate", f"must look like '10/minute', not {value!r}")
    count, multiplier, unit = match.groups()
    window = int(multiplier or 1) * _PERIOD_SECONDS[unit]
    if int(count) < 1 or window < 1:
        raise PydanticCustomError("rate", "needs a positive count and window")
    return RateLimit(limit=int(count), window_seconds=window)


def _optional_rate(value: Any) -> RateLimit | None:
    if value is None or (isinstance(value, str) and value.strip().lower() == "off"):
        return None
    return _rate(value)


def _database_url(value: Any) -> str:
    """The async form of a SQLite or PostgreSQL URL, as other tools write them too."""
    try:
        url: URL = make_url(str(value).strip())
    except ArgumentError:
        url = None  # type: ignore[assignment]
    driver = None if url is None else _DRIVERS.get(url.drivername)
    if url is None or driver is None:
        raise PydanticCustomError("database_url", f"must be {DATABASE_URL_FORMS}, not {value!r}")
    return url.set(drivername=driver).render_as_string(hide_password=False)


def _origins(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split(",")
    return tuple(origin.strip().rstrip("/") for origin in value if origin.strip())


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


Rate = Annotated[RateLimit, NoDecode, BeforeValidator(_rate)]
LinkTemplate = Annotated[str, BeforeValidator(_link_template)]
OptionalRate = Annotated[RateLimit | None, NoDecode, BeforeValidator(_optional_rate)]
Positive = Annotated[int, Field(ge=1)]
NonNegative = Annotated[int, Field(ge=0)]
Seconds = Annotated[float, Field(gt=0)]
LogLevel = Annotated[
    Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper)
]


class Settings(BaseSettings):
    """Every variable (README, Configuration), validated once."""

    model_config = SettingsConfigDict(frozen=True, env_ignore_empty=True, extra="ignore")

    database_url: Annotated[str, BeforeValidator(_database_url)] = DEFAULT_DATABASE_URL
    token_ttl_seconds: Positive = 86400
    login_rate_limit: Rate = RateLimit(10, 60)
    # None (`off`): every login attempt from one client address, whatever the email, unlimited.
    login_address_rate_limit: OptionalRate = RateLimit(1000, 60)
    # One email from every address but those the user logged in from lately (None: off).
    login_account_rate_limit: OptionalRate = RateLimit(100, 3600)
    login_known_address_days: Positive = 30
    max_tokens_per_user: Positive = 50
    max_keys_per_user: Positive = 20  # live API keys
    token_touch_seconds: NonNegative = 60
    max_content_length: Positive = 1024 * 1024
    log_level: LogLevel = "INFO"
    log_format: Annotated[Literal["text", "json"], BeforeValidator(_lower)] = "text"
    # Lines are written a batch at a time, at most this long after they are logged (0: at once).
    log_batch_seconds: Annotated[float, Field(ge=0, le=3600)] = 0.05
    cors_origins: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_origins)] = ()
    # PostgreSQL: every connection a worker holds (reads, writes, the costly-read lanes).
    db_connections: Positive = 20
    db_pool_timeout: Seconds = 3.0  # the longest a unit of work waits for one (503 after)
    db_pgbouncer: bool = False  # connections go through PgBouncer in transaction pooling
    db_connect_timeout: Seconds = 5.0
    db_command_timeout: Seconds = 10.0
    db_busy_timeout_ms: Positive = 10_000
    # The longest a list query may hold the database before it is abandoned (422).
    list_budget_ms: Positive = 2_000
    sqlite_cache_mib: Positive = 64  # page cache of each SQLite reading connection
    idempotency_ttl_seconds: Positive = 86400
    retry_after_seconds: Positive = 5
    # argon2id at the OWASP minimum: 19 MiB, 2 passes, 1 lane.
    argon2_memory_kib: Positive = 19 * 1024
    argon2_time_cost: Positive = 2
    argon2_parallelism: Positive = 1
    password_hash_workers: NonNegative = 0  # 0: one per CPU core this process may use
    password_hash_niceness: Annotated[int, Field(ge=0, le=19)] = 10
    metrics_enabled: bool = True
    # Request samples and database gauges reach the shared files at most this long after.
    metrics_batch_seconds: Annotated[float, Field(gt=0, le=3600)] = 1.0
    # Where worker processes share metrics; None: a directory per server, chosen at start-up.
    prometheus_multiproc_dir: str | None = None
    trusted_proxy_hops: NonNegative = 0
    body_timeout_seconds: Positive = 30
    # An idle kept-alive connection waits this long for its next request: longer than clients
    # keep theirs (httpx: 5 s), so that none is closed under a request on its way.
    keep_alive_seconds: Positive = 75
    headers_timeout_seconds: Positive = 5  # from a request's first byte to its whole head
    drain_seconds: NonNegative = 25
    mail_url: Annotated[MailUrl, NoDecode, BeforeValidator(_mail_url)] = MailUrl("log")
    mail_from: Annotated[str, BeforeValidator(_mail_from)] = "Roster <roster@localhost>"
    # How often each worker looks for mail other processes wrote, or whose retry is due (what
    # it writes itself goes at once).
    mail_poll_seconds: Seconds = 2.0
    # Where the pages that take a mailed token live; the links' templates hold `{token}`.
    public_url: Annotated[str, BeforeValidator(_public_url)] = "http://127.0.0.1:8000"
    password_reset_url: LinkTemplate | None = None  # default: PUBLIC_URL/reset-password?token=
    password_reset_ttl_seconds: Positive = 3600
    email_verification_url: LinkTemplate | None = None  # default: PUBLIC_URL/verify-email?token=
    email_verification_ttl_seconds: Positive = 86400
    # Login refuses a user who has not verified their email (403 EMAIL_NOT_VERIFIED).
    require_verified_email: bool = False
    # Password-reset (and verification) requests for one normalised email, across workers.
    mail_request_rate_limit: Rate = RateLimit(5, 3600)
    # Audit events older than this are removed in the background (docs/API.md §7).
    audit_retention_days: Positive = 400

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)  # the environment only through from_env

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings the environment (or `environ`) gives; SettingsError naming the first
        variable that holds a value the service cannot use."""
        environ = os.environ if environ is None else environ
        replaced = sorted(REPLACED.keys() & environ.keys())
        if replaced:
            raise SettingsError(f"{replaced[0]} is gone: {REPLACED[replaced[0]]}")
        source = _Environment(cls, environ)
        try:
            return cls(**source())
        except ValidationError as error:
            raise SettingsError(_explain(error)) from None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def login_limits(self) -> LoginLimits:
        return LoginLimits(
            self.login_rate_limit,
            self.login_account_rate_limit,
            self.login_address_rate_limit,
            timedelta(days=self.login_known_address_days),
        )

    def password_reset_link(self, token: str) -> str:
        template = self.password_reset_url or f"{self.public_url}/reset-password?token={{token}}"
        return template.replace("{token}", token)

    def email_verification_link(self, token: str) -> str:
        template = self.email_verification_url or f"{self.public_url}/verify-email?token={{token}}"
        return template.replace("{token}", token)

    @property
    def password_hashing(self) -> PasswordHashing:
        return PasswordHashing(
            self.argon2_memory_kib,
            self.argon2_time_cost,
            self.argon2_parallelism,
            self.password_hash_workers,
            self.password_hash_niceness,
        )


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source, over a mapping of our choosing."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


_MESSAGES = {
    "int_parsing": "must be an integer, not {input!r}",
    "float_parsing": "must be a number, not {input!r}",
    "bool_parsing": "must be true or false, not {input!r}",
    "greater_than_equal": "must be at least {ge}, not {input!r}",
    "greater_than": "must be more than {gt}, not {input!r}",
    "less_than_equal": "must be at most {le}, not {input!r}",
    "literal_error": "must be one of {expected}, not {input!r}",
}


def _explain(error: ValidationError) -> str:
    """`LOG_FORMAT must be one of 'text' or 'json', not 'xml'`: the first problem, in one line."""
    problem = error.errors(include_url=False)[0]
    variable = str(problem["loc"][0]).upper()
    template = _MESSAGES.get(problem["type"])
    if template is None:
        return f"{variable} {problem['msg']}"
    return f"{variable} " + template.format(input=problem["input"], **problem.get("ctx", {}))

"""Configuration: one immutable object built from the environment by the entry points."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./roster.db"
_RATE_PATTERN = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(second|minute|hour|day)s?\s*$")
_PERIOD_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


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
        match = _RATE_PATTERN.match(text)
        if match is None:
            raise SettingsError(f"{name} must look like '10/minute', not {text!r}")
        count, multiplier, unit = match.groups()
        window = int(multiplier or 1) * _PERIOD_SECONDS[unit]
        if int(count) < 1 or window < 1:
            raise SettingsError(f"{name} needs a positive count and window")
        return cls(limit=int(count), window_seconds=window)


@dataclass(frozen=True)
class PasswordHashing:
    """argon2id cost parameters (defaults at the OWASP minimum: 19 MiB, 2 passes, 1 lane)."""

    memory_kib: int = 19 * 1024
    time_cost: int = 2
    parallelism: int = 1
    workers: int = 0  # threads hashing at once; 0: one per CPU core this process may use
    niceness: int = 10  # CPU priority of those threads (0-19): request handling comes first


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    token_ttl_seconds: int = 86400
    login_rate_limit: RateLimit = field(default_factory=lambda: RateLimit(10, 60))
    # None: off. Every login attempt from one client address, whatever the email.
    login_address_rate_limit: RateLimit | None = field(default_factory=lambda: RateLimit(1000, 60))
    max_tokens_per_user: int = 50
    token_touch_seconds: int = 60
    max_content_length: int = 1024 * 1024
    log_level: str = "INFO"
    cors_origins: tuple[str, ...] = ()
    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_pool_timeout: float = 10.0
    db_connect_timeout: float = 5.0
    db_command_timeout: float = 10.0
    db_busy_timeout_ms: int = 10_000
    # The longest a list query may hold the database before it is abandoned (422).
    list_budget_ms: int = 2_000
    sqlite_cache_mib: int = 64  # page cache of each SQLite reading connection
    idempotency_ttl_seconds: int = 86400
    retry_after_seconds: int = 5
    password_hashing: PasswordHashing = field(default_factory=PasswordHashing)
    log_format: str = "text"
    metrics_enabled: bool = True
    # Where worker processes share metrics; None: a directory per server, chosen at start-up.
    metrics_dir: str | None = None
    trusted_proxy_hops: int = 0
    body_timeout_seconds: int = 30
    keep_alive_seconds: int = 5
    drain_seconds: int = 25

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        defaults = cls()
        hashing = PasswordHashing(
            memory_kib=_int(env, "ARGON2_MEMORY_KIB", defaults.password_hashing.memory_kib),
            time_cost=_int(env, "ARGON2_TIME_COST", defaults.password_hashing.time_cost),
            parallelism=_int(env, "ARGON2_PARALLELISM", defaults.password_hashing.parallelism),
            workers=_int(env, "PASSWORD_HASH_WORKERS", defaults.password_hashing.workers, 0),
            niceness=_int(env, "PASSWORD_HASH_NICENESS", defaults.password_hashing.niceness, 0),
        )
        rate = env.get("LOGIN_RATE_LIMIT")
        address_rate = env.get("LOGIN_ADDRESS_RATE_LIMIT", "").strip()
        return cls(
            database_url=env.get("DATABASE_URL") or defaults.database_url,
            token_ttl_seconds=_int(env, "TOKEN_TTL_SECONDS", defaults.token_ttl_seconds),
            login_rate_limit=RateLimit.parse(rate) if rate else defaults.login_rate_limit,
            login_address_rate_limit=_optional_rate(
                address_rate, "LOGIN_ADDRESS_RATE_LIMIT", defaults.login_address_rate_limit
            ),
            max_tokens_per_user=_int(env, "MAX_TOKENS_PER_USER", defaults.max_tokens_per_user),
            token_touch_seconds=_int(env, "TOKEN_TOUCH_SECONDS", defaults.token_touch_seconds, 0),
            max_content_length=_int(env, "MAX_CONTENT_LENGTH", defaults.max_content_length),
            log_level=_log_level(env.get("LOG_LEVEL", defaults.log_level)),
            cors_origins=_origins(env.get("CORS_ORIGINS", "")),
            db_pool_size=_int(env, "DB_POOL_SIZE", defaults.db_pool_size),
            db_max_overflow=_int(env, "DB_MAX_OVERFLOW", defaults.db_max_overflow, 0),
            db_pool_timeout=_float(env, "DB_POOL_TIMEOUT", defaults.db_pool_timeout),
            db_connect_timeout=_float(env, "DB_CONNECT_TIMEOUT", defaults.db_connect_timeout),
            db_command_timeout=_float(env, "DB_COMMAND_TIMEOUT", defaults.db_command_timeout),
            db_busy_timeout_ms=_int(env, "DB_BUSY_TIMEOUT_MS", defaults.db_busy_timeout_ms),
            list_budget_ms=_int(env, "LIST_BUDGET_MS", defaults.list_budget_ms),
            sqlite_cache_mib=_int(env, "SQLITE_CACHE_MIB", defaults.sqlite_cache_mib),
            idempotency_ttl_seconds=_int(
                env, "IDEMPOTENCY_TTL_SECONDS", defaults.idempotency_ttl_seconds
            ),
            retry_after_seconds=_int(env, "RETRY_AFTER_SECONDS", defaults.retry_after_seconds),
            password_hashing=hashing,
            log_format=_choice(env, "LOG_FORMAT", ("text", "json"), defaults.log_format),
            metrics_enabled=_bool(env, "METRICS_ENABLED", defaults.metrics_enabled),
            metrics_dir=env.get("PROMETHEUS_MULTIPROC_DIR") or None,
            trusted_proxy_hops=_int(env, "TRUSTED_PROXY_HOPS", defaults.trusted_proxy_hops, 0),
            body_timeout_seconds=_int(env, "BODY_TIMEOUT_SECONDS", defaults.body_timeout_seconds),
            keep_alive_seconds=_int(env, "KEEP_ALIVE_SECONDS", defaults.keep_alive_seconds),
            drain_seconds=_int(env, "DRAIN_SECONDS", defaults.drain_seconds, 0),
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _optional_rate(raw: str, name: str, default: RateLimit | None) -> RateLimit | None:
    if raw == "":
        return default
    if raw.lower() == "off":
        return None
    return RateLimit.parse(raw, name)


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, not {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, not {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, not {value}")
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
    return value


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value not in _TRUE | _FALSE:
        raise SettingsError(f"{name} must be true or false, not {raw!r}")
    return value in _TRUE


def _log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise SettingsError(
            f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {raw!r}"
        )
    return level


def _origins(raw: str) -> tuple[str, ...]:
    return tuple(origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip())

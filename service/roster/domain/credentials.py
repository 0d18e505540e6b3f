"""The secrets Roster hands out — session tokens, API keys, mailed one-use tokens — and the
hash that is all the database keeps of each."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "rk_"
# A session token is 43 characters (32 random bytes, base64url) and may start with "rk_" by
# chance; a key is "rk_" and 43 more, so its length tells them apart.
KEY_LENGTH = len(KEY_PREFIX) + 43
PREFIX_LENGTH = 9  # a key's shown `prefix`: "rk_" and 6 characters of the secret


def new_token() -> tuple[str, str]:
    """A fresh token (256 random bits) and its hash."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def new_key() -> tuple[str, str]:
    """A fresh API key's secret (256 random bits after `rk_`) and its hash."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, hash_token(key)


def is_key(credential: str) -> bool:
    return len(credential) == KEY_LENGTH and credential.startswith(KEY_PREFIX)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()

"""Passwords are stored as salted argon2id hashes at (at least) the OWASP parameters, and
upgraded to the configured parameters on the next successful login."""

from __future__ import annotations

import re

import pytest
from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError
from quart import Quart
from sqlalchemy import select

from roster.db.models import User
from roster.domain.passwords import Passwords
from roster.settings import PasswordHashing, Settings

from .helpers import (
    PASSWORD,
    Client,
    all_cells,
    bearer,
    database_session,
    login,
    register,
    serving,
    unique_email,
)

PHC = re.compile(
    r"^\$argon2id\$v=19\$m=(?P<m>\d+),t=(?P<t>\d+),p=(?P<p>\d+)\$"
    r"(?P<salt>[A-Za-z0-9+/]+)\$(?P<digest>[A-Za-z0-9+/]+)$"
)
WEAK = PasswordHashing(memory_kib=1024, time_cost=1, parallelism=1, workers=1, niceness=10)
STRONGER = PasswordHashing(memory_kib=2048, time_cost=2, parallelism=1, workers=1, niceness=10)


def parse(password_hash: str) -> re.Match[str]:
    match = PHC.match(password_hash)
    assert match is not None, password_hash
    return match


async def stored_hash(app: Quart, user_id: int) -> str:
    async with database_session(app) as session:
        value = await session.scalar(select(User.password_hash).where(User.id == user_id))
    assert value is not None
    return value


# --- parameters ----------------------------------------------------------------------------


def test_default_parameters_are_at_least_owasp() -> None:
    for hashing in (Settings().password_hashing, Settings.from_env({}).password_hashing):
        assert hashing.memory_kib >= 19456
        assert hashing.time_cost >= 2
        assert hashing.parallelism >= 1


async def test_default_hasher_produces_argon2id_at_those_parameters() -> None:
    passwords = Passwords(Settings().password_hashing)
    try:
        password_hash = await passwords.hash(PASSWORD)
        assert await passwords.verify(password_hash, PASSWORD)
        assert not await passwords.verify(password_hash, PASSWORD + "!")
    finally:
        passwords.close()
    assert password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    match = parse(password_hash)
    assert int(match["m"]) >= 19456
    assert int(match["t"]) >= 2
    assert int(match["p"]) >= 1


async def test_registration_with_default_settings_stores_owasp_hash(settings: Settings) -> None:
    async with serving(settings, **Settings().password_hashing.as_settings()) as app:
        user = await register(app.test_client())
        match = parse(await stored_hash(app, user["id"]))
    assert int(match["m"]) >= 19456
    assert int(match["t"]) >= 2
    assert int(match["p"]) >= 1


# --- what is stored ------------------------------------------------------------------------


async def test_stored_hash_is_salted_argon2id_never_the_password(
    app: Quart, client: Client
) -> None:
    alice = await register(client, name="Alice")
    bob = await register(client, name="Bob")
    alice_hash, bob_hash = await stored_hash(app, alice["id"]), await stored_hash(app, bob["id"])

    for password_hash in (alice_hash, bob_hash):
        parse(password_hash)
        assert PASSWORD not in password_hash
        assert PasswordHasher().verify(password_hash, PASSWORD)  # a hash of that password
    # Same password, different salts, so different hashes.
    assert alice_hash != bob_hash
    assert parse(alice_hash)["salt"] != parse(bob_hash)["salt"]
    # The password is nowhere in the database.
    assert alice_hash in await all_cells(app)
    assert not any(PASSWORD in cell for cell in await all_cells(app))


async def test_representation_never_includes_the_hash(app: Quart, client: Client) -> None:
    user = await register(client)
    token = await login(client, user["email"])
    password_hash = await stored_hash(app, user["id"])
    for path in ("/api/profile", f"/api/users/{user['id']}", "/api/users"):
        response = await client.get(path, headers=bearer(token))
        text_body = await response.get_data(as_text=True)
        assert response.status_code == 200
        assert password_hash not in text_body
        assert parse(password_hash)["digest"] not in text_body
        assert PASSWORD not in text_body
        assert "password" not in text_body


# --- rehash on login -----------------------------------------------------------------------


async def test_weaker_hash_is_upgraded_on_successful_login(settings: Settings) -> None:
    email = unique_email()
    async with serving(settings, **WEAK.as_settings()) as old:
        user = await register(old.test_client(), email=email)
        before = await stored_hash(old, user["id"])
    assert parse(before)["m"] == "1024"
    assert parse(before)["t"] == "1"

    async with serving(settings, **STRONGER.as_settings()) as new:
        client = new.test_client()
        # A failed login changes nothing.
        failed = await client.post("/api/tokens", json={"email": email, "password": "wrong-pass"})
        assert failed.status_code == 401
        assert await stored_hash(new, user["id"]) == before

        # A successful one stores a hash at the configured parameters, of the same password.
        token = await login(client, email)
        after = await stored_hash(new, user["id"])
        assert after != before
        match = parse(after)
        assert (match["m"], match["t"], match["p"]) == ("2048", "2", "1")
        assert PasswordHasher().verify(after, PASSWORD)

        # An upgrade is not a password change: the user and the new token are unaffected.
        profile = await client.get("/api/profile", headers=bearer(token))
        assert (await profile.get_json())["data"] == user

        # Now current, the hash is left alone by further logins.
        await login(client, email)
        assert await stored_hash(new, user["id"]) == after
        wrong = await client.post("/api/tokens", json={"email": email, "password": "nope-nope"})
        assert wrong.status_code == 401


async def test_current_hash_is_not_rehashed(app: Quart, client: Client) -> None:
    user = await register(client)
    before = await stored_hash(app, user["id"])
    await login(client, user["email"])
    await login(client, user["email"])
    assert await stored_hash(app, user["id"]) == before


async def test_stronger_hash_still_verifies_with_weaker_config(settings: Settings) -> None:
    """Lowering the configuration does not lock anyone out (the hash is then re-made)."""
    email = unique_email()
    async with serving(settings, **STRONGER.as_settings()) as old:
        user = await register(old.test_client(), email=email)
        before = await stored_hash(old, user["id"])
    async with serving(settings, **WEAK.as_settings()) as new:
        await login(new.test_client(), email)
        after = await stored_hash(new, user["id"])
    assert parse(before)["m"] == "2048"
    assert parse(after)["m"] == "1024"
    assert PasswordHasher().verify(after, PASSWORD)
    with pytest.raises(VerifyMismatchError):
        PasswordHasher().verify(after, PASSWORD + "x")

"""Factories: accounts (a user of the API with a live token, an admin), made the way clients
and operators make them. `conftest.py` hands them out as fixtures (`accounts`, `alice`,
`admin`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from quart import Quart

from roster.db.audit import CLI
from roster.domain.users import create_user

from .helpers import (
    PASSWORD,
    Client,
    Json,
    bearer,
    fetch,
    login,
    register,
    runtime_of,
    unique_email,
)


@dataclass(frozen=True)
class Account:
    """A user and a live token of theirs, with the client that talks for them."""

    client: Client
    user: Json
    token: str
    password: str = PASSWORD

    @property
    def id(self) -> int:
        user_id: int = self.user["id"]
        return user_id

    @property
    def email(self) -> str:
        email: str = self.user["email"]
        return email

    @property
    def url(self) -> str:
        return f"/api/users/{self.id}"

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The bearer header, and any others."""
        return {**bearer(self.token), **(extra or {})}

    async def fresh(self) -> Json:
        """The user as stored now (GET with this account's token)."""
        return await fetch(self.client, self.token, self.id)


@dataclass
class Accounts:
    """Makes accounts on one app: users register over the API, admins are created as
    `roster create-user --admin` creates them; each then logs in."""

    app: Quart
    client: Client
    made: list[Account] = field(default_factory=list)

    async def user(
        self, name: str = "Alice", email: str | None = None, password: str = PASSWORD
    ) -> Account:
        user = await register(self.client, name=name, email=email, password=password)
        token = await login(self.client, user["email"], password)
        return self._keep(Account(self.client, user, token, password))

    async def key(self, owner: Account, *scopes: str, name: str = "nightly job") -> str:
        """A new API key of `owner`'s with these scopes (default: users:read): its secret."""
        body = {"name": name, "scopes": list(scopes or ("users:read",))}
        response = await self.client.post("/api/keys", json=body, headers=owner.headers())
        assert response.status_code == 201, await response.get_data(as_text=True)
        secret: str = (await response.get_json())["data"]["key"]
        return secret

    async def admin(self, name: str = "Admin") -> Account:
        runtime = runtime_of(self.app)
        email = unique_email("admin")
        made = await create_user(runtime.db, runtime.passwords, name, email, PASSWORD, "admin", CLI)
        token = await login(self.client, email)
        return self._keep(Account(self.client, await fetch(self.client, token, made.id), token))

    def _keep(self, account: Account) -> Account:
        self.made.append(account)
        return account


async def user_with_token(
    client: Client, name: str = "Alice", password: str = PASSWORD
) -> tuple[Json, str]:
    """A registered user and a token of theirs (for tests that hold several clients)."""
    user = await register(client, name=name, password=password)
    return user, await login(client, user["email"], password)


async def admin_with_token(app: Quart, client: Client) -> tuple[Json, str]:
    """An admin, created the way `roster create-user --admin` does, and a token of theirs."""
    account = await Accounts(app, client).admin()
    return account.user, account.token

"""`RosterClient`: the API as async methods, with typed results, one exception per error code,
remembered ETags, cursor iteration, and retries that are safe to make."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, TypedDict, Unpack

import httpx
from pydantic import PrivateAttr

from . import models
from .errors import RetryLater, TransportError, error_of, retry_after

Role = Literal["user", "admin"]
Status = Literal["active", "disabled"]


class UserChanges(TypedDict, total=False):
    """What `users.update` may change: a misspelt or mistyped field fails type-checking."""

    name: str
    email: str
    password: str
    role: Role
    status: Status


Sort = Literal["id", "-id", "name", "-name", "email", "-email", "created_at", "-created_at"]
RETRIED_STATUSES = frozenset({429, 503})
# A request that never reached the server may always be sent again.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class User(models.UserOut):
    """A user as read from Roster, with the ETag it had then (sent back as `If-Match` by
    `update`, `replace` and `delete`, and as `If-None-Match` by `get`)."""

    _etag: str | None = PrivateAttr(default=None)

    @property
    def etag(self) -> str | None:
        return self._etag


Session = models.SessionOut
Token = models.TokenOut
Key = models.KeyOut
NewKey = models.NewKeyOut  # a key just created: `key` holds its secret, shown this once
Introspection = models.IntrospectionOut
AuditEvent = models.AuditEventOut


@dataclass(frozen=True)
class Page:
    """One page of a list: its users and its `meta` (`total` and `pages` only for a page by
    number; `next_cursor` when more follow)."""

    users: list[User]
    per_page: int
    next_cursor: str | None
    page: int | None = None
    total: int | None = None
    pages: int | None = None


@dataclass(frozen=True)
class EventPage:
    """One page of the audit log, newest first; `next_cursor` when more follow."""

    events: list[AuditEvent]
    per_page: int
    next_cursor: str | None


@dataclass(frozen=True)
class Retries:
    """How failed attempts are retried: at most `attempts` in all, waiting `backoff` times 2ⁿ
    (with jitter, at most `max_wait`), or the server's `Retry-After` when it says."""

    attempts: int = 4
    backoff: float = 0.2
    max_wait: float = 10.0


class RosterClient:
    """`async with RosterClient("http://127.0.0.1:8000") as roster: await roster.login(...)`."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        api_key: str | None = None,
        timeout: float | httpx.Timeout = 10.0,
        max_connections: int = 100,
        max_keepalive_connections: int = 20,
        retries: Retries | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_keepalive_connections
        )
        self.http = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            limits=limits,
            transport=transport,
            headers=dict(headers or {}),
        )
        # A key is sent as a token is (docs/API.md §2): the client then acts within its scopes.
        self.token = api_key if api_key is not None else token
        self.retries = retries or Retries()
        self.users = Users(self)
        self.sessions = Sessions(self)
        self.password_resets = PasswordResets(self)
        self.email_verifications = EmailVerifications(self)
        self.keys = Keys(self)
        self.audit_events = AuditEvents(self)

    async def __aenter__(self) -> RosterClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.aclose()

    # -- tokens -----------------------------------------------------------------------------

    async def login(self, email: str, password: str, label: str | None = None) -> Token:
        """Log in; later requests carry the token."""
        body: dict[str, Any] = {"email": email, "password": password}
        if label is not None:
            body["label"] = label
        response = await self.request("POST", "/api/tokens", json=body, authenticated=False)
        token = Token.model_validate(response.json()["data"])
        self.token = token.token
        return token

    async def logout(self) -> None:
        await self.request("DELETE", "/api/tokens/current", retry_unsent_only=False)
        self.token = None

    async def profile(self) -> User:
        return user_of(await self.request("GET", "/api/profile"))

    async def introspect(self, token: str) -> Introspection:
        """What a session token or API key is (RFC 7662), for a key with `tokens:introspect`
        or an admin's session: `.active` False, and nothing else, for any inactive one."""
        response = await self.request(
            "POST", "/api/tokens/introspect", json={"token": token}, retry_unsent_only=False
        )
        return Introspection.model_validate(response.json())

    async def health(self) -> bool:
        """Whether the service is ready (`/health/ready`)."""
        try:
            response = await self.request("GET", "/health/ready", authenticated=False)
        except RetryLater:
            return False
        return bool(response.status_code == 200)

    # -- the one way requests go --------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        authenticated: bool = True,
        retry_unsent_only: bool | None = None,
        ok: tuple[int, ...] = (),
        ok_after_retry: tuple[int, ...] = (),
    ) -> httpx.Response:
        """Send, retrying what is safe: 429 and 503 always (the server did nothing), a request
        that never reached the server always, any other transport failure only for methods
        whose repetition changes nothing (GET, PUT, DELETE, and POSTs that carry an
        Idempotency-Key, also retried while the key's first request runs). Error statuses
        raise their exception, unless listed in `ok` (or in `ok_after_retry`, once an attempt
        may have reached the server: a DELETE's 404 then means it was done)."""
        sent_headers = dict(headers or {})
        if authenticated and self.token is not None:
            sent_headers["Authorization"] = f"Bearer {self.token}"
        if retry_unsent_only is None:
            idempotent = method in ("GET", "HEAD", "PUT", "DELETE")
            retry_unsent_only = not (idempotent or "Idempotency-Key" in sent_headers)
        query = {key: value for key, value in (params or {}).items() if value is not None}
        delivered = False  # whether an earlier attempt may have reached the server
        for attempt in range(1, self.retries.attempts + 1):
            last = attempt == self.retries.attempts
            try:
                response = await self.http.request(
                    method, path, json=json, params=query, headers=sent_headers
                )
            except NOT_SENT as error:
                if last:
                    raise TransportError(f"{method} {path}: {error!r}") from error
                await self._pause(attempt, None)
                continue
            except httpx.TransportError as error:
                if last or retry_unsent_only:
                    raise TransportError(f"{method} {path}: {error!r}") from error
                delivered = True
                await self._pause(attempt, None)
                continue
            status = response.status_code
            if not last and (status in RETRIED_STATUSES or _key_in_use(response, sent_headers)):
                await self._pause(attempt, retry_after(response.headers))
                continue
            accepted = ok + (ok_after_retry if delivered else ())
            if status >= 400 and status not in accepted:
                raise error_of(response)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def _pause(self, attempt: int, told: float | None) -> None:
        backoff = self.retries.backoff * 2 ** (attempt - 1) * (0.5 + random.random())
        await asyncio.sleep(min(told if told is not None else backoff, self.retries.max_wait))


class Users:
    """/api/users."""

    def __init__(self, client: RosterClient) -> None:
        self._client = client

    async def create(
        self,
        name: str,
        email: str,
        password: str,
        *,
        role: Role | None = None,
        status: Status | None = None,
        idempotency_key: str | None = None,
    ) -> User:
        """Register a user. Sent with an Idempotency-Key (one of its own unless given), so a
        retried create never makes two users."""
        body: dict[str, Any] = {"name": name, "email": email, "password": password}
        body |= {key: value for key, value in (("role", role), ("status", status)) if value}
        key = idempotency_key or f"roster-client-{uuid.uuid4()}"
        response = await self._client.request(
            "POST", "/api/users", json=body, headers={"Idempotency-Key": key}
        )
        return user_of(response)

    async def get(self, user: int | User) -> User:
        """A user by id; given a `User`, revalidated with If-None-Match (the same object back
        when it has not changed)."""
        headers = {"If-None-Match": user.etag} if isinstance(user, User) and user.etag else {}
        response = await self._client.request("GET", _path(user), headers=headers, ok=(304,))
        if response.status_code == 304 and isinstance(user, User):
            return user
        return user_of(response)

    async def list(
        self,
        *,
        page: int | None = None,
        per_page: int | None = None,
        sort: Sort | None = None,
        q: str | None = None,
        role: Role | None = None,
        status: Status | None = None,
        cursor: str | None = None,
    ) -> Page:
        params = {
            "page": page, "per_page": per_page, "sort": sort, "q": q, "role": role,
            "status": status, "cursor": cursor,
        }  # fmt: skip
        body = (await self._client.request("GET", "/api/users", params=params)).json()
        meta = body["meta"]
        return Page(
            users=[User.model_validate(item) for item in body["data"]],
            per_page=meta["per_page"],
            next_cursor=meta["next_cursor"],
            page=meta.get("page"),
            total=meta.get("total"),
            pages=meta.get("pages"),
        )

    async def iterate(
        self,
        *,
        sort: Sort | None = None,
        q: str | None = None,
        role: Role | None = None,
        status: Status | None = None,
        per_page: int = 100,
    ) -> AsyncIterator[User]:
        """Every matching user, in order, page after page through cursors: none skipped or
        repeated among those that exist throughout, whatever is written meanwhile."""
        page = await self.list(sort=sort, q=q, role=role, status=status, per_page=per_page)
        while True:
            for user in page.users:
                yield user
            if page.next_cursor is None:
                return
            page = await self.list(cursor=page.next_cursor)

    async def replace(
        self,
        user: int | User,
        *,
        name: str,
        email: str,
        password: str | None = None,
        role: Role | None = None,
        status: Status | None = None,
    ) -> User:
        """PUT: every writable field. Given a `User`, only if it has not changed since it was
        read (`PreconditionFailed` otherwise)."""
        body: dict[str, Any] = {"name": name, "email": email}
        body |= {
            key: value
            for key, value in (("password", password), ("role", role), ("status", status))
            if value is not None
        }
        return user_of(
            await self._client.request("PUT", _path(user), json=body, headers=_if_match(user))
        )

    async def update(self, user: int | User, **changes: Unpack[UserChanges]) -> User:
        """PATCH the fields given (`name`, `email`, `password`, `role`, `status`). Given a
        `User`, only if it has not changed since it was read (`PreconditionFailed`)."""
        body = dict(changes)
        response = await self._client.request(
            "PATCH", _path(user), json=body, headers=_if_match(user), retry_unsent_only=True
        )
        return user_of(response)

    async def delete(self, user: int | User) -> None:
        """Delete (and end every session). Given a `User`, only if it has not changed."""
        await self._client.request(
            "DELETE", _path(user), headers=_if_match(user), ok_after_retry=(404,)
        )


class Sessions:
    """/api/tokens and /api/users/{id}/tokens: live sessions."""

    def __init__(self, client: RosterClient) -> None:
        self._client = client

    async def list(self, user: int | User | None = None) -> list[Session]:
        """Your sessions, or (an admin, or yourself) a user's."""
        path = "/api/tokens" if user is None else f"{_path(user)}/tokens"
        body = (await self._client.request("GET", path)).json()
        return [Session.model_validate(item) for item in body["data"]]

    async def end(self, session: int | Session) -> None:
        """End one of your sessions (by id)."""
        session_id = session if isinstance(session, int) else session.id
        await self._client.request("DELETE", f"/api/tokens/{session_id}", ok_after_retry=(404,))

    async def end_others(self) -> None:
        """End every session of yours but the one this client uses."""
        await self._client.request("DELETE", "/api/tokens/others")

    async def end_all(self, user: int | User) -> None:
        """End every session of a user (an admin, or yourself)."""
        await self._client.request("DELETE", f"{_path(user)}/tokens")


class Keys:
    """/api/keys and /api/users/{id}/keys: API keys, managed with a session (not a key)."""

    def __init__(self, client: RosterClient) -> None:
        self._client = client

    async def create(
        self, name: str, scopes: list[str], *, expires_at: datetime | None = None
    ) -> NewKey:
        """A new key acting as you within `scopes`; its secret is `.key`, shown only now.
        Forbidden for an admin scope you may not hold; Conflict beyond MAX_KEYS_PER_USER."""
        body: dict[str, Any] = {"name": name, "scopes": scopes}
        if expires_at is not None:
            body["expires_at"] = expires_at.isoformat()
        response = await self._client.request("POST", "/api/keys", json=body)
        return NewKey.model_validate(response.json()["data"])

    async def list(self, user: int | User | None = None) -> list[Key]:
        """Your live keys, newest first; or (an admin) a user's."""
        path = "/api/keys" if user is None else f"{_path(user)}/keys"
        body = (await self._client.request("GET", path)).json()
        return [Key.model_validate(item) for item in body["data"]]

    async def get(self, key: int | Key) -> Key:
        key_id = key if isinstance(key, int) else key.id
        response = await self._client.request("GET", f"/api/keys/{key_id}")
        return Key.model_validate(response.json()["data"])

    async def revoke(self, key: int | Key, user: int | User | None = None) -> None:
        """Revoke one of your keys; or (an admin) one of a user's."""
        key_id = key if isinstance(key, int) else key.id
        path = f"/api/keys/{key_id}" if user is None else f"{_path(user)}/keys/{key_id}"
        await self._client.request("DELETE", path, ok_after_retry=(404,))


class AuditEvents:
    """/api/audit-events (an admin, or a key with `audit:read`) and, with `own=True`,
    /api/profile/audit-events: your own security log."""

    def __init__(self, client: RosterClient) -> None:
        self._client = client

    async def list(
        self,
        *,
        own: bool = False,
        type: str | Sequence[str] | None = None,
        actor_id: int | None = None,
        target_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        per_page: int | None = None,
        cursor: str | None = None,
    ) -> EventPage:
        """A page of events, newest first: those of `type` (one or several), by `actor_id`, on
        `target_id`, from `since` (inclusive) until `until` (exclusive); or after `cursor`."""
        params = {
            "type": type if type is None or isinstance(type, str) else ",".join(type),
            "actor_id": actor_id, "target_id": target_id,
            "since": None if since is None else since.isoformat(),
            "until": None if until is None else until.isoformat(),
            "per_page": per_page, "cursor": cursor,
        }  # fmt: skip
        path = "/api/profile/audit-events" if own else "/api/audit-events"
        body = (await self._client.request("GET", path, params=params)).json()
        return EventPage(
            events=[AuditEvent.model_validate(item) for item in body["data"]],
            per_page=body["meta"]["per_page"],
            next_cursor=body["meta"]["next_cursor"],
        )

    async def iterate(
        self,
        *,
        own: bool = False,
        type: str | Sequence[str] | None = None,
        actor_id: int | None = None,
        target_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        per_page: int = 100,
    ) -> AsyncIterator[AuditEvent]:
        """Every matching event, newest first, page after page through cursors (events
        written meanwhile are newer than the walk: none is skipped or repeated)."""
        page = await self.list(
            own=own, type=type, actor_id=actor_id, target_id=target_id, since=since,
            until=until, per_page=per_page,
        )  # fmt: skip
        while True:
            for event in page.events:
                yield event
            if page.next_cursor is None:
                return
            page = await self.list(own=own, cursor=page.next_cursor)


class PasswordResets:
    """/api/password-resets: account recovery by mail (no token needed)."""

    def __init__(self, client: RosterClient) -> None:
        self._client = client

    async def request(self, email: str) -> None:
        """Ask for a reset message to `email`. The answer is the same whether or not an account
        has the address; too many requests for one address raise RateLimited."""
        body = {"email": email}
        await self._client.request(
            "POST", "/api/password-resets", json=body, authenticated=False, retry_unsent_only=False
        )

    async def confirm(self, token: str, password: str) -> None:
        """Set a new password with the token the message carried; every session of the account
        ends (this client's token is forgotten). ValidationFailed naming `token` for a token that
        is unknown, used or expired, or naming `password` for a password the rules refuse."""
        body = {"token": token, "password": password}
        await self._client.request(
            "POST", "/api/password-resets/confirm", json=body, authenticated=False
        )
        self._client.token = None


class EmailVerifications:
    """/api/email-verifications: proving the address of an account by mail."""

    def __init__(self, client: RosterClient) -> None:
        self._client = client

    async def request(self) -> None:
        """Send a new verification message to your current email. Conflict once it is
        verified; RateLimited after too many requests for one address."""
        await self._client.request("POST", "/api/email-verifications", retry_unsent_only=False)

    async def confirm(self, token: str) -> User:
        """Prove an address with the token its message carried (no login needed): the user,
        now verified. ValidationFailed naming `token` for a token that is unknown, used,
        expired, or sent to an address the account no longer has."""
        response = await self._client.request(
            "POST",
            "/api/email-verifications/confirm",
            json={"token": token},
            authenticated=False,
        )
        return user_of(response)


def _key_in_use(response: httpx.Response, headers: Mapping[str, str]) -> bool:
    """409 IDEMPOTENCY_KEY_IN_USE: the first request with this key is still running."""
    if response.status_code != 409 or "Idempotency-Key" not in headers:
        return False
    return error_of(response).code == "IDEMPOTENCY_KEY_IN_USE"


def user_of(response: httpx.Response) -> User:
    user = User.model_validate(response.json()["data"])
    user._etag = response.headers.get("ETag")
    return user


def _path(user: int | User) -> str:
    return f"/api/users/{user if isinstance(user, int) else user.id}"


def _if_match(user: int | User) -> dict[str, str]:
    return {"If-Match": user.etag} if isinstance(user, User) and user.etag else {}

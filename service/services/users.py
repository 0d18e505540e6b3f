"""Users: the business rules. Plain async functions that take the session and commit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import Reader, writing
from ..errors import Conflict, NotFound
from ..models import Token, User
from ..passwords import Passwords
from ..queries import user_by_id, users_page
from ..schemas import UserListQuery, UserOut

ALREADY_REGISTERED = {"email": "Already registered"}
Precondition = Callable[[UserOut], None]


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        name=user.name,
        email=user.email,
        role=user.role,
        created_at=user.created_at,
        updated_at=user.updated_at,
    )


async def get_user(read: Reader, user_id: int) -> UserOut:
    user = await read(user_by_id, user_id)
    if user is None:
        raise NotFound("User not found")
    return user


async def list_users(read: Reader, query: UserListQuery) -> tuple[list[UserOut], int]:
    return await read(users_page, query)


async def create_user(
    session: AsyncSession, passwords: Passwords, name: str, email: str, password: str, role: str
) -> User:
    password_hash = await passwords.hash(password)
    now = datetime.now(UTC)
    async with writing(session):
        user = User(
            name=name,
            email=email,
            password_hash=password_hash,
            role=role,
            created_at=now,
            updated_at=now,
        )
        session.add(user)
        await _commit_unique_email(session)
    return user


async def update_user(
    session: AsyncSession,
    passwords: Passwords,
    user_id: int,
    changes: dict[str, Any],
    precondition: Precondition,
    keep_token_id: int | None,
) -> User:
    """Apply `changes` (validated fields) to a user; a password always counts as a change.

    An update that changes nothing keeps `updated_at`, and so the ETag.
    """
    password = changes.pop("password", None)
    password_hash = None if password is None else await passwords.hash(password)
    async with writing(session):
        user = await _locked_user(session, user_id)
        precondition(user_out(user))
        changed = {key: value for key, value in changes.items() if getattr(user, key) != value}
        if not changed and password_hash is None:
            await session.commit()
            return user
        if password_hash is not None:
            # Before the new values are set: this statement autoflushes pending changes, and a
            # duplicate email must surface in the commit below (409), not here (500).
            await _revoke_tokens(session, user_id, keep_token_id)
            user.password_hash = password_hash
        for key, value in changed.items():
            setattr(user, key, value)
        user.updated_at = datetime.now(UTC)
        await _commit_unique_email(session)
    return user


async def delete_user(session: AsyncSession, user_id: int, precondition: Precondition) -> None:
    async with writing(session):
        user = await _locked_user(session, user_id)
        precondition(user_out(user))
        await _revoke_tokens(session, user_id, keep_token_id=None)
        await session.delete(user)
        await session.commit()


async def set_password_hash(session: AsyncSession, user_id: int, password_hash: str) -> None:
    """Store a re-computed hash of the same password (a parameter upgrade, not a change)."""
    async with writing(session):
        user = await session.get(User, user_id)
        if user is not None:
            user.password_hash = password_hash
        await session.commit()


async def _locked_user(session: AsyncSession, user_id: int) -> User:
    statement = select(User).where(User.id == user_id).with_for_update()
    user = (await session.execute(statement.execution_options(populate_existing=True))).scalar()
    if user is None:
        raise NotFound("User not found")
    return user


async def _revoke_tokens(session: AsyncSession, user_id: int, keep_token_id: int | None) -> None:
    statement = delete(Token).where(Token.user_id == user_id)
    if keep_token_id is not None:
        statement = statement.where(Token.id != keep_token_id)
    await session.execute(statement)


async def _commit_unique_email(session: AsyncSession) -> None:
    try:
        await session.commit()
    except IntegrityError as error:
        await session.rollback()
        if "email" in str(error.orig).lower():
            raise Conflict("Email already registered", details=ALREADY_REGISTERED) from None
        raise

"""People, their passwords, browser sessions and personal API tokens, in the database.

Passwords are hashed with argon2id (argon2-cffi's defaults). Checking one costs tens of
milliseconds on purpose, so it happens only at sign-in: a session cookie and an API token are random
secrets looked up by their SHA-256, never verified by a slow hash on every request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sandchat.models import LOCAL_USER_ID, USERNAME_MAX_LENGTH, ApiToken, Thread, User, UserSession, utcnow

SESSION_LIFETIME: Final = timedelta(days=14)
TOKEN_PREFIX: Final = "sct_"  # noqa: S105 - the prefix, not a token
TOKEN_NAME_MAX_CHARS: Final = 100
MIN_PASSWORD_CHARS: Final = 8
MAX_PASSWORD_CHARS: Final = 1024
# Names people sign in with (emails, from a proxy, too); a colon is kept for the implicit local user.
USERNAME: Final = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.@+-]{{0,{USERNAME_MAX_LENGTH - 1}}}")
DISABLED: Final = "This account is disabled."
BAD_USERNAME: Final = "A user name is letters, digits and . _ @ + - (starting with a letter or digit), at most 254."

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so that a wrong name takes as long as a wrong
    password. Made at the first sign-in, not at import: every service imports this module."""
    return _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A request about an account that cannot be met; the message is one sentence for the person."""


@dataclass(frozen=True, slots=True)
class NewToken:
    token: ApiToken
    secret: str


def digest(secret: str) -> str:
    """How a session cookie or an API token is stored and looked up: its SHA-256, in hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def check_username(username: str) -> str:
    if not USERNAME.fullmatch(username):
        raise AccountError(BAD_USERNAME)
    return username


def hash_password(password: str) -> str:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise AccountError(f"A password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters.")
    return _hasher.hash(password)


def password_matches(user: User | None, password: str) -> bool:
    """Whether ``password`` is the user's (always the cost of one argon2 check, user or not)."""
    stored = user.password_hash if user is not None and user.password_hash else _dummy_hash()
    try:
        matches = _hasher.verify(stored, password[:MAX_PASSWORD_CHARS])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return matches and user is not None and user.password_hash is not None


# --- users -----------------------------------------------------------------------------------


async def user_named(session: AsyncSession, username: str) -> User | None:
    return (await session.scalars(select(User).where(User.username == username))).first()


async def create_user(session: AsyncSession, username: str, password: str | None, *, is_admin: bool = False) -> User:
    """A new user; the first admin also takes over the threads of the implicit local user."""
    check_username(username)
    if await user_named(session, username) is not None:
        raise AccountError(f"A user named {username!r} exists already.")
    first_admin = is_admin and not await _has_admin(session)
    user = User(
        username=username,
        password_hash=hash_password(password) if password is not None else None,
        is_admin=is_admin,
    )
    session.add(user)
    await session.flush()
    if first_admin:
        await session.execute(update(Thread).where(Thread.owner_id == LOCAL_USER_ID).values(owner_id=user.id))
    return user


async def _has_admin(session: AsyncSession) -> bool:
    count = await session.scalar(select(func.count()).select_from(User).where(User.is_admin.is_(True)))
    return bool(count)


async def proxy_user(session: AsyncSession, username: str) -> User:
    """The user a trusted proxy names, created on first sight (without a password)."""
    user = await user_named(session, username)
    return user if user is not None else await create_user(session, username, None)


async def list_users(session: AsyncSession) -> list[User]:
    query = select(User).where(User.id != LOCAL_USER_ID).order_by(User.created_at, User.username)
    return list((await session.scalars(query)).all())


async def disable_user(session: AsyncSession, username: str) -> User:
    """Disable a user: they can no longer sign in, and their sessions and tokens stop working."""
    user = await _existing(session, username)
    user.disabled = True
    await session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    await session.flush()
    return user


async def set_password(session: AsyncSession, username: str, password: str) -> User:
    """A new password; every session of the user ends (their tokens stay)."""
    user = await _existing(session, username)
    user.password_hash = hash_password(password)
    await session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    await session.flush()
    return user


async def _existing(session: AsyncSession, username: str) -> User:
    user = await user_named(session, username)
    if user is None:
        raise AccountError(f"No user named {username!r}.")
    return user


# --- sessions --------------------------------------------------------------------------------


async def start_session(session: AsyncSession, user: User, now: datetime | None = None) -> tuple[UserSession, str]:
    """A new browser session of ``user``; returns it and the cookie's value (stored only as a hash)."""
    secret = secrets.token_urlsafe(32)
    started = now or utcnow()
    row = UserSession(
        user_id=user.id, token_hash=digest(secret), created_at=started, expires_at=started + SESSION_LIFETIME
    )
    session.add(row)
    await session.flush()
    return row, secret


async def session_user(session: AsyncSession, secret: str) -> tuple[UserSession, User] | None:
    """The live session a cookie names and its user; ``None`` when unknown, expired or the user disabled."""
    query = (
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.token_hash == digest(secret), UserSession.expires_at > utcnow(), User.disabled.is_(False))
    )
    row = (await session.execute(query)).first()
    return (row[0], row[1]) if row is not None else None


async def end_session(session: AsyncSession, session_id: str) -> None:
    await session.execute(delete(UserSession).where(UserSession.id == session_id))


# --- personal API tokens ---------------------------------------------------------------------


async def create_token(session: AsyncSession, user_id: str, name: str) -> NewToken:
    """A new token of the user: ``sct_`` and 43 random characters, shown once, stored as its SHA-256."""
    name = " ".join(name.split())
    if not name or len(name) > TOKEN_NAME_MAX_CHARS:
        raise AccountError(f"A token's name has 1 to {TOKEN_NAME_MAX_CHARS} characters.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user_id, name=name, token_hash=digest(secret), hint=secret[-4:])
    session.add(token)
    await session.flush()
    return NewToken(token, secret)


async def list_tokens(session: AsyncSession, user_id: str) -> list[ApiToken]:
    query = select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.created_at, ApiToken.id)
    return list((await session.scalars(query)).all())


async def revoke_token(session: AsyncSession, user_id: str, token_id: str) -> bool:
    """Delete one of the user's tokens; ``False`` when they have none with this id."""
    result = await session.execute(delete(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def token_user(session: AsyncSession, secret: str) -> tuple[ApiToken, User] | None:
    """The token and its user; ``None`` when unknown, revoked, or the user is disabled."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    query = (
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == digest(secret), User.disabled.is_(False))
    )
    row = (await session.execute(query)).first()
    return (row[0], row[1]) if row is not None else None

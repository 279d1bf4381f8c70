"""People's own agent logins, stored encrypted: set, cleared, "is set", and opened only for their agent.

The credential (``CLAUDE_CODE_OAUTH_TOKEN`` from ``claude setup-token``, or an API key) is sealed with
AES-256-GCM under a key derived from SECRET_KEY (HKDF-SHA256), with the person's id and the kind as
associated data: a sealed login copied onto another person's row, or another kind, does not open.
No API ever returns it; the worker opens it at the start of that person's agent, and a SECRET_KEY that
changed since it was stored makes it unreadable (:class:`LoginUnreadableError`: a sentence, never a 500).
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from sandchat.agent_users import LOGIN_VARIABLES, AgentLogin, LoginKind, is_person
from sandchat.models import StoredAgentLogin, utcnow

_FORMAT: Final = "v1."
_NONCE_BYTES: Final = 12
_KDF_INFO: Final = b"sandchat agent login v1"
_KDF_SALT: Final = b"sandchat"
LOGIN_KINDS: Final[tuple[LoginKind, ...]] = tuple(LOGIN_VARIABLES)
# Longer than any real token or key; a bound on what is stored, not a check of its shape.
MAX_SECRET_CHARS: Final = 4096

NO_SECRET_KEY_MESSAGE: Final = "This server cannot store agent logins: its operator has not set SECRET_KEY."  # noqa: S105
UNREADABLE_MESSAGE: Final = (
    "Your stored agent login cannot be read with this server's SECRET_KEY (it was changed): store it again."
)


class LoginUnreadableError(Exception):
    """A stored login that this SECRET_KEY does not open (the key changed, or the row was tampered with)."""


class NoSecretKeyError(Exception):
    """SECRET_KEY is not set: logins can be neither stored nor opened."""


class LoginBox:
    """Seals and opens logins with the key derived from SECRET_KEY."""

    def __init__(self, secret_key: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_KDF_SALT, info=_KDF_INFO).derive(secret_key.encode())
        self._aead = AESGCM(key)

    def seal(self, user_id: str, login: AgentLogin) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, login.secret.encode(), _associated(user_id, login.kind))
        return _FORMAT + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, user_id: str, kind: LoginKind, sealed: str) -> AgentLogin:
        if not sealed.startswith(_FORMAT):
            raise LoginUnreadableError(UNREADABLE_MESSAGE)
        try:
            raw = base64.urlsafe_b64decode(sealed[len(_FORMAT) :])
            secret = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _associated(user_id, kind))
            return AgentLogin(kind, secret.decode())
        except (InvalidTag, ValueError, binascii.Error, UnicodeDecodeError):
            raise LoginUnreadableError(UNREADABLE_MESSAGE) from None


def _associated(user_id: str, kind: str) -> bytes:
    return f"{user_id}\x00{kind}".encode()


def login_box(secret_key: str | None) -> LoginBox | None:
    return LoginBox(secret_key) if secret_key else None


@dataclass(frozen=True, slots=True)
class LoginState:
    """What a person (and only they) may know of their stored login: whether there is one, never it."""

    is_set: bool
    kind: LoginKind | None = None
    updated_at: datetime | None = None
    # False when it is stored but this server's SECRET_KEY does not open it.
    readable: bool = True


def _kind(value: str) -> LoginKind:
    return "api_key" if value == "api_key" else "oauth_token"


async def store_login(session: AsyncSession, box: LoginBox | None, user_id: str, login: AgentLogin) -> None:
    """Set (or replace) the person's login; raises :class:`NoSecretKeyError` without SECRET_KEY."""
    if box is None:
        raise NoSecretKeyError(NO_SECRET_KEY_MESSAGE)
    sealed = box.seal(user_id, login)
    row = await session.get(StoredAgentLogin, user_id)
    if row is None:
        session.add(StoredAgentLogin(user_id=user_id, kind=login.kind, sealed=sealed))
    else:
        row.kind, row.sealed, row.updated_at = login.kind, sealed, utcnow()
    await session.flush()


async def clear_login(session: AsyncSession, user_id: str) -> bool:
    """Forget the person's login; whether there was one."""
    result = await session.execute(delete(StoredAgentLogin).where(StoredAgentLogin.user_id == user_id))
    return bool(getattr(result, "rowcount", 0))


async def login_state(session: AsyncSession, box: LoginBox | None, user_id: str) -> LoginState:
    row = await session.get(StoredAgentLogin, user_id)
    if row is None:
        return LoginState(is_set=False)
    kind = _kind(row.kind)
    try:
        if box is None:
            raise LoginUnreadableError(UNREADABLE_MESSAGE)
        box.open(user_id, kind, row.sealed)
    except LoginUnreadableError:
        return LoginState(True, kind, row.updated_at, readable=False)
    return LoginState(True, kind, row.updated_at)


async def load_login(session: AsyncSession, box: LoginBox | None, user_id: str) -> AgentLogin | None:
    """The person's login, opened for their agent; None when they stored none.

    Raises :class:`LoginUnreadableError` when one is stored that this SECRET_KEY (or its absence) cannot open.
    """
    row = (await session.execute(select(StoredAgentLogin).where(StoredAgentLogin.user_id == user_id))).scalar()
    if row is None:
        return None
    if box is None:
        raise LoginUnreadableError(UNREADABLE_MESSAGE)
    return box.open(user_id, _kind(row.kind), row.sealed)


AgentLoginStatus = Literal["own", "shared", "none", "unreadable", "operator"]


@dataclass(frozen=True, slots=True)
class AgentLoginReport:
    """Whether a person's agent is logged in, and with what (never the credential): for /health and the page."""

    status: AgentLoginStatus
    message: str
    state: LoginState


_KIND_NAMES: Final[dict[LoginKind, str]] = {"oauth_token": "a Claude login token", "api_key": "an API key"}


def report_login(user_id: str, state: LoginState, *, shared_login: bool) -> AgentLoginReport:
    """What a person's next turn will run with (the same choice the worker makes, sandchat_worker.agent_people)."""
    if not is_person(user_id):
        message = "This stack has no accounts: the agent uses the operator's own login."
        return AgentLoginReport("operator", message, state)
    if state.is_set and state.readable and state.kind is not None:
        return AgentLoginReport("own", f"Your agent uses your own login ({_KIND_NAMES[state.kind]}).", state)
    if shared_login:
        reason = "yours cannot be read since the server's SECRET_KEY changed" if state.is_set else "you stored none"
        message = f"Your agent uses the operator's shared login ({reason}); store your own to use yours."
        return AgentLoginReport("shared", message, state)
    if state.is_set:
        return AgentLoginReport("unreadable", UNREADABLE_MESSAGE, state)
    return AgentLoginReport("none", "Your agent is not logged in: store your Claude login under Agent login.", state)


async def agent_login_report(
    session: AsyncSession, box: LoginBox | None, user_id: str, *, shared_login: bool
) -> AgentLoginReport:
    state = await login_state(session, box, user_id) if is_person(user_id) else LoginState(is_set=False)
    return report_login(user_id, state, shared_login=shared_login)

"""Who is asking: the sign-in modes (AUTH_MODE), the person a request acts for, and whom to trust.

- ``none``: one implicit person (:data:`sandchat.models.LOCAL_USER_ID`); allowed only on loopback.
- ``token``: the shared AUTH_TOKEN, as before; it acts for that same implicit person.
- ``accounts``: built-in users who sign in with a password (:mod:`sandchat.accounts`).
- ``proxy``: the user named by AUTH_PROXY_HEADER, honoured only from TRUSTED_PROXIES.

Personal API tokens (``sct_...``) work in every mode but ``none``.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from sandchat import accounts
from sandchat.database import Database
from sandchat.models import LOCAL_USER_ID, LOCAL_USERNAME, User
from sandchat.settings import AuthMode, Settings

# A credential id says what a request or WebSocket was opened with, so that revoking it closes them.
TOKEN_CREDENTIAL: Final = "token:"  # noqa: S105 - a kind, not a token
SESSION_CREDENTIAL: Final = "session:"
# Published when a user is disabled: every socket of theirs closes.
USER_CREDENTIAL: Final = "user:"


@dataclass(frozen=True, slots=True)
class Principal:
    """The person a request acts for, and the credential it came with (``None``: no revocable one)."""

    user_id: str
    username: str
    is_admin: bool = False
    credential: str | None = None

    @classmethod
    def of(cls, user: User, credential: str | None = None) -> Principal:
        return cls(user.id, user.username, user.is_admin, credential)

    @property
    def by_session(self) -> bool:
        return self.credential is not None and self.credential.startswith(SESSION_CREDENTIAL)


LOCAL: Final = Principal(LOCAL_USER_ID, LOCAL_USERNAME)


def auth_mode(settings: Settings) -> AuthMode:
    """The mode in force (Settings resolves it once: token when AUTH_TOKEN is set, else none)."""
    return settings.auth_mode or ("token" if settings.auth_token is not None else "none")


def is_trusted_proxy(settings: Settings, peer: str | None) -> bool:
    """Whether the direct peer of a connection is one of TRUSTED_PROXIES."""
    if peer is None:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in settings.trusted_proxies)


def client_address(settings: Settings, peer: str | None, headers: Mapping[str, str]) -> str:
    """The address a request came from: its peer, or what a trusted proxy says (X-Forwarded-For)."""
    if is_trusted_proxy(settings, peer):
        forwarded = [part.strip() for part in headers.get("x-forwarded-for", "").split(",") if part.strip()]
        if forwarded:
            return forwarded[-1][:64]
    return peer or "unknown"


def is_https(settings: Settings, scheme: str, peer: str | None, headers: Mapping[str, str]) -> bool:
    """Whether the browser reached this site over https (directly, or through a trusted proxy)."""
    if scheme == "https" or all(origin.startswith("https://") for origin in settings.allowed_origins):
        return True
    return is_trusted_proxy(settings, peer) and headers.get("x-forwarded-proto", "").lower() == "https"


async def bearer_principal(settings: Settings, database: Database, presented: str) -> Principal | None:
    """The person a bearer credential acts for: AUTH_TOKEN (token mode) or a personal token (not in none)."""
    mode = auth_mode(settings)
    expected = settings.auth_token_value()
    if mode == "token" and expected is not None and hmac.compare_digest(presented.encode(), expected.encode()):
        return LOCAL
    if mode == "none" or not presented.startswith(accounts.TOKEN_PREFIX):
        return None
    async with database.reading() as session:
        found = await accounts.token_user(session, presented)
    return Principal.of(found[1], TOKEN_CREDENTIAL + found[0].id) if found is not None else None


def bearer_value(authorization: str) -> str | None:
    """The credential of an `Authorization: Bearer <value>` header, else ``None``."""
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None

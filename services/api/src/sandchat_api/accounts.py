"""Signing in and out, who am I, and personal API tokens: /auth/login, /auth/logout, /me, /tokens."""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from litestar import Request, Response, delete, get, post
from litestar.datastructures import Cookie
from litestar.exceptions import ClientException, NotAuthorizedException, NotFoundException, PermissionDeniedException
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT, HTTP_429_TOO_MANY_REQUESTS
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sandchat import accounts, identity
from sandchat.settings import Settings

from sandchat_api.auth import SESSION_COOKIE, require_user
from sandchat_api.deps import DatabaseDep, PrincipalDep, RedisDep, SettingsDep
from sandchat_api.schemas import CreatedToken, Me, NewTokenRequest, SignIn, TokenList, TokenOut

log = logging.getLogger(__name__)

# Failed sign-ins allowed in one window, per account and per client address.
SIGN_IN_WINDOW_S: Final = 15 * 60
SIGN_IN_ACCOUNT_LIMIT: Final = 10
SIGN_IN_ADDRESS_LIMIT: Final = 50
WRONG_PASSWORD: Final = "Wrong user name or password."  # noqa: S105 - a message
TOO_MANY: Final = "Too many failed sign-ins: wait 15 minutes, or ask an admin to reset the password."
NOT_ACCOUNTS: Final = "Signing in with a password needs AUTH_MODE=accounts."
NO_TOKENS_HERE: Final = "Personal tokens need sign-in: set AUTH_MODE (accounts, proxy or token) first."
NO_SUCH_TOKEN: Final = "You have no token with this id."  # noqa: S105 - a message


async def _failures(redis: Redis, settings: Settings, username: str, address: str) -> tuple[str, str, int, int]:
    keys = settings.redis_keys
    account, place = keys.sign_in_attempts_account(username), keys.sign_in_attempts_address(address)
    counts = await redis.mget(account, place)
    return account, place, int(counts[0] or 0), int(counts[1] or 0)


async def _count_failure(redis: Redis, *keys: str) -> None:
    async with redis.pipeline(transaction=True) as pipe:
        for key in keys:
            pipe.incr(key)
            pipe.expire(key, SIGN_IN_WINDOW_S, nx=True)
        await pipe.execute()


@post("/auth/login", tags=["auth"], status_code=HTTP_204_NO_CONTENT)
async def sign_in(
    request: Request,  # type: ignore[type-arg]
    data: JSONBody[SignIn],
    database: DatabaseDep,
    redis: RedisDep,
    settings: SettingsDep,
) -> Response[None]:
    """Sign in with a user name and password; sets the `sandchat_session` cookie (HttpOnly, SameSite=Lax)."""
    if identity.auth_mode(settings) != "accounts":
        raise ClientException(NOT_ACCOUNTS)
    peer = request.client.host if request.client else None
    address = identity.client_address(settings, peer, request.headers)
    account, place, by_account, by_address = await _failures(redis, settings, data.username, address)
    if by_account >= SIGN_IN_ACCOUNT_LIMIT or by_address >= SIGN_IN_ADDRESS_LIMIT:
        raise ClientException(TOO_MANY, status_code=HTTP_429_TOO_MANY_REQUESTS)
    async with database.reading() as session:
        user = await accounts.user_named(session, data.username)
    # argon2 is slow on purpose: off the event loop, so other requests go on meanwhile.
    if not await asyncio.to_thread(accounts.password_matches, user, data.password) or user is None:
        await _count_failure(redis, account, place)
        raise NotAuthorizedException(WRONG_PASSWORD)
    if user.disabled:
        raise PermissionDeniedException(accounts.DISABLED)
    async with database.transaction() as session:
        _row, secret = await accounts.start_session(session, user)
    secure = identity.is_https(settings, request.url.scheme, peer, request.headers)
    cookie = Cookie(
        key=SESSION_COOKIE,
        value=secret,
        max_age=int(accounts.SESSION_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure,
    )
    return Response(None, status_code=HTTP_204_NO_CONTENT, cookies=[cookie])


@post("/auth/logout", tags=["auth"], status_code=HTTP_204_NO_CONTENT, guards=[require_user])
async def sign_out(
    database: DatabaseDep, redis: RedisDep, settings: SettingsDep, principal: PrincipalDep
) -> Response[None]:
    """End this browser's session (and close the chat sockets it opened); the cookie is cleared."""
    if principal.by_session and principal.credential is not None:
        async with database.transaction() as session:
            await accounts.end_session(session, principal.credential.removeprefix(identity.SESSION_CREDENTIAL))
        await _announce_revoked(redis, settings, principal.credential)
    gone = Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/", httponly=True, samesite="lax")
    return Response(None, status_code=HTTP_204_NO_CONTENT, cookies=[gone])


async def _announce_revoked(redis: Redis, settings: Settings, credential: str) -> None:
    try:
        await redis.publish(settings.redis_keys.credentials_revoked, credential)
    except RedisError as exc:  # the credential no longer works for anything new all the same
        log.warning("revoked credential not announced to the gateways (%s)", type(exc).__name__)


@get("/me", tags=["auth"], guards=[require_user])
async def me(principal: PrincipalDep, settings: SettingsDep) -> Me:
    """Who this request acts for, and the sign-in mode."""
    return Me(principal.user_id, principal.username, principal.is_admin, identity.auth_mode(settings))


def _tokens_allowed(settings: Settings) -> None:
    if identity.auth_mode(settings) == "none":
        raise ClientException(NO_TOKENS_HERE)


@get("/tokens", tags=["auth"], guards=[require_user])
async def list_tokens(database: DatabaseDep, settings: SettingsDep, principal: PrincipalDep) -> TokenList:
    """Your personal API tokens (never the tokens themselves)."""
    _tokens_allowed(settings)
    async with database.reading() as session:
        found = await accounts.list_tokens(session, principal.user_id)
    return TokenList([TokenOut.of(token) for token in found])


@post("/tokens", tags=["auth"], guards=[require_user], status_code=201)
async def create_token(
    data: JSONBody[NewTokenRequest], database: DatabaseDep, settings: SettingsDep, principal: PrincipalDep
) -> CreatedToken:
    """A new personal API token (`sct_...`): use it as `Authorization: Bearer`; it is shown only now."""
    _tokens_allowed(settings)
    try:
        async with database.transaction() as session:
            created = await accounts.create_token(session, principal.user_id, data.name)
    except accounts.AccountError as exc:
        raise ClientException(str(exc)) from None
    return CreatedToken(TokenOut.of(created.token), created.secret)


@delete("/tokens/{token_id:str}", tags=["auth"], guards=[require_user])
async def revoke_token(
    token_id: FromPath[str], database: DatabaseDep, redis: RedisDep, settings: SettingsDep, principal: PrincipalDep
) -> None:
    """Revoke one of your tokens: it stops working at once and its open chat sockets close."""
    _tokens_allowed(settings)
    async with database.transaction() as session:
        revoked = len(token_id) <= 64 and await accounts.revoke_token(session, principal.user_id, token_id)
    if not revoked:
        raise NotFoundException(NO_SUCH_TOKEN)
    await _announce_revoked(redis, settings, identity.TOKEN_CREDENTIAL + token_id)

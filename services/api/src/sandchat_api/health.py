"""GET /health: database and Redis reachability, and the sandbox status the worker publishes."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

import msgspec
from litestar import Request, Response, get
from litestar.exceptions import HTTPException
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from sandchat_api.agent_login import agent_login_answer
from sandchat_api.auth import authenticate
from sandchat_api.deps import DatabaseDep, RedisDep, SettingsDep
from sandchat_api.schemas import Health, SandboxHealth

log = logging.getLogger(__name__)
CHECK_TIMEOUT_S: Final = 2.0
UNKNOWN_SANDBOX = SandboxHealth("unknown", "No worker has reported the sandbox's state yet.")


async def _database_state(database: DatabaseDep) -> str:
    try:
        await asyncio.wait_for(database.ping(), CHECK_TIMEOUT_S)
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        log.warning("health: database unreachable: %s", type(exc).__name__)
        return "unreachable"
    return "ok"


async def _redis_state(redis: RedisDep, settings: SettingsDep) -> tuple[str, SandboxHealth]:
    try:
        raw = await asyncio.wait_for(redis.get(settings.redis_keys.sandbox_status), CHECK_TIMEOUT_S)
    except (RedisError, OSError, TimeoutError) as exc:
        log.warning("health: redis unreachable: %s", type(exc).__name__)
        return "unreachable", UNKNOWN_SANDBOX
    if raw is None:
        return "ok", UNKNOWN_SANDBOX
    try:
        return "ok", msgspec.json.decode(raw, type=SandboxHealth)
    except msgspec.DecodeError:
        return "ok", UNKNOWN_SANDBOX


async def _your_agent(request: Request[Any, Any, Any], database: DatabaseDep, settings: SettingsDep) -> Any:
    """Whether the asking person's agent is logged in; None when the request says nobody (or the database is away)."""
    try:
        principal = await authenticate(request)
        if principal is None:
            return None
        return (await agent_login_answer(database, settings, principal.user_id)).agent_login
    except (HTTPException, SQLAlchemyError, OSError, TimeoutError) as exc:
        log.info("health: whose agent is unknown (%s)", type(exc).__name__)
        return None


@get("/health", tags=["health"])
async def health(
    request: Request[Any, Any, Any], database: DatabaseDep, redis: RedisDep, settings: SettingsDep
) -> Response[Health]:
    """Whether the API can reach its database and Redis, the agent sandbox's last probe, and (for a request
    that says who is asking) whether *your* agent is logged in (`agentLogin`)."""
    database_state, (redis_state, sandbox) = await asyncio.gather(
        _database_state(database), _redis_state(redis, settings)
    )
    healthy = database_state == "ok" and redis_state == "ok"
    agent = await _your_agent(request, database, settings) if database_state == "ok" else None
    body = Health("ok" if healthy else "degraded", database_state, redis_state, sandbox, agent)
    return Response(body, status_code=200 if healthy else 503)

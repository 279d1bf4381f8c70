"""GET /health: database and Redis reachability, and the agent's state the workers report (stale: unavailable)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any, Final

from litestar import Request, Response, get
from litestar.exceptions import HTTPException
from redis.exceptions import RedisError
from sandchat.agent_health import read_report
from sandchat.unavailable import why
from sqlalchemy.exc import SQLAlchemyError

from sandchat_api.agent_login import agent_login_answer
from sandchat_api.auth import authenticate
from sandchat_api.deps import DatabaseDep, RedisDep, SettingsDep
from sandchat_api.schemas import Health, SandboxHealth

log = logging.getLogger(__name__)
CHECK_TIMEOUT_S: Final = 2.0
UNREADABLE_SANDBOX = SandboxHealth("unknown", "The agent's state cannot be read while Redis is unreachable.")


async def _database_state(database: DatabaseDep) -> str:
    try:
        await asyncio.wait_for(database.ping(), CHECK_TIMEOUT_S)
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        log.warning("health: database unreachable: %s", why(exc))
        return "unreachable"
    return "ok"


async def _redis_state(redis: RedisDep, settings: SettingsDep) -> tuple[str, SandboxHealth]:
    try:
        raw = await asyncio.wait_for(redis.get(settings.redis_keys.sandbox_status), CHECK_TIMEOUT_S)
    except (RedisError, OSError, TimeoutError) as exc:
        log.warning("health: redis unreachable: %s", type(exc).__name__)
        return "unreachable", UNREADABLE_SANDBOX
    report = read_report(raw)
    checked_at = datetime.fromtimestamp(report.checked_at, UTC).isoformat() if report.checked_at is not None else None
    return "ok", SandboxHealth(report.status, report.message, checked_at)


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

"""GET /health: database and Redis reachability, and the sandbox status the worker publishes."""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from litestar import Response, get
from redis.exceptions import RedisError
from sandchat.service_contracts import UNKNOWN_SANDBOX, SandboxHealth, decode_sandbox_health
from sqlalchemy.exc import SQLAlchemyError

from sandchat_api.deps import DatabaseDep, RedisDep, SettingsDep
from sandchat_api.schemas import Health

log = logging.getLogger(__name__)
CHECK_TIMEOUT_S: Final = 2.0


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
    return "ok", decode_sandbox_health(raw)


@get("/health", tags=["health"])
async def health(database: DatabaseDep, redis: RedisDep, settings: SettingsDep) -> Response[Health]:
    """Whether the API can reach its database and Redis, and the agent sandbox's last probe."""
    database_state, (redis_state, sandbox) = await asyncio.gather(
        _database_state(database), _redis_state(redis, settings)
    )
    healthy = database_state == "ok" and redis_state == "ok"
    body = Health("ok" if healthy else "degraded", database_state, redis_state, sandbox)
    return Response(body, status_code=200 if healthy else 503)

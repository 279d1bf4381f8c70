"""The in-process gateway, with Redis faults that a test may arm, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from arq.constants import job_key_prefix
from redis.asyncio import Redis
from sandchat.database import Database
from sandchat.redis_keys import RedisKeys
from sandchat.turns import queue

from tests.gateway.in_process import InProcessGateway, RedisFaults, running_gateway

# Short, so that the tests are: a turn no worker can have lost its job after this long, and
# reapers look this often.
LOST_JOB_GRACE_S = 0.5
REAP_EVERY_S = 0.1


@pytest.fixture
async def faults_and_gateway(
    redis_url: str, redis_keys: RedisKeys, database: Database, redis: Redis
) -> AsyncIterator[tuple[RedisFaults, InProcessGateway]]:
    faults = RedisFaults()
    client = faults.client(redis_url)
    # The reaper talks to Redis on its own connection, so that the faults count the gateway's steps only.
    reaper_redis = queue.connect(redis_url)
    async with running_gateway(
        client,
        database,
        redis_keys,
        lost_job_grace_s=LOST_JOB_GRACE_S,
        reap_every_s=REAP_EVERY_S,
        reaper_redis=reaper_redis,
    ) as gateway:
        yield faults, gateway
    await reaper_redis.aclose()
    turn_ids = [redis_keys.turn_of_info(key) async for key in redis.scan_iter(match=redis_keys.turn_info("*"))]
    if turn_ids:  # arq keeps job records outside the namespace
        await redis.delete(*(f"{job_key_prefix}{turn_id}" for turn_id in turn_ids))
    await client.aclose(close_connection_pool=True)


@pytest.fixture
def gateway(faults_and_gateway: tuple[RedisFaults, InProcessGateway]) -> InProcessGateway:
    return faults_and_gateway[1]

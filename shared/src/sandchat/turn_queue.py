"""The turn queue. arq is in maintenance mode, so it stays behind this one thin module."""

from __future__ import annotations

import logging
from typing import Final

from arq.connections import ArqRedis, RedisSettings
from arq.constants import in_progress_key_prefix, job_key_prefix
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

RUN_TURN: Final = "run_turn"


def wake_channel(queue_name: str) -> str:
    """Where an enqueue tells the workers to look at the queue now, instead of at their next poll."""
    return f"{queue_name}:wake"


def redis_settings(url: str) -> RedisSettings:
    return RedisSettings.from_dsn(url)


def connect(url: str) -> ArqRedis:
    """A Redis client that can also enqueue arq jobs (used for everything else too)."""
    client: ArqRedis = ArqRedis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
    return client


async def enqueue_turn(redis: ArqRedis, queue_name: str, turn_id: str) -> bool:
    """Queue the turn; its id is the job id, so the same turn can never be queued twice."""
    job = await redis.enqueue_job(RUN_TURN, turn_id, _job_id=turn_id, _queue_name=queue_name)
    if job is None:
        return False
    # Workers poll rarely (idle polling cost CPU and up to one poll delay of latency); wake them.
    # The job is queued whatever happens to this: a lost wake-up costs one poll delay, not the turn.
    try:
        await redis.publish(wake_channel(queue_name), b"")
    except RedisError as exc:
        log.warning("turn %s queued; waking the workers failed (%s), they find it at their next poll", turn_id, exc)
    return True


async def job_is_pending(redis: Redis, turn_id: str) -> bool:
    """Whether the turn's job is still queued or running (a reaper's test for a lost job)."""
    return bool(await redis.exists(job_key_prefix + turn_id, in_progress_key_prefix + turn_id))

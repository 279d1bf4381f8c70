"""The turn queue. arq is in maintenance mode, so it stays behind this one thin module."""

from __future__ import annotations

from typing import Final

from arq.connections import ArqRedis, RedisSettings

RUN_TURN: Final = "run_turn"


def redis_settings(url: str) -> RedisSettings:
    return RedisSettings.from_dsn(url)


def connect(url: str) -> ArqRedis:
    """A Redis client that can also enqueue arq jobs (used for everything else too)."""
    client: ArqRedis = ArqRedis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
    return client


async def enqueue_turn(redis: ArqRedis, queue_name: str, turn_id: str) -> bool:
    """Queue the turn; its id is the job id, so the same turn can never be queued twice."""
    job = await redis.enqueue_job(RUN_TURN, turn_id, _job_id=turn_id, _queue_name=queue_name)
    return job is not None

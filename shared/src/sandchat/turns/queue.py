"""The shared turn queue. arq is in maintenance mode, so it stays behind this one thin module."""

from __future__ import annotations

import logging
from typing import Final

from arq.connections import ArqRedis, RedisSettings
from arq.constants import in_progress_key_prefix, job_key_prefix
from redis.asyncio import Redis
from redis.exceptions import RedisError

from sandchat.redis_keys import RedisKeys

log = logging.getLogger(__name__)

RUN_TURN: Final = "run_turn"
# The turn's info field saying its job was queued (a reaper's lost-job test needs one to have been).
QUEUED_FIELD: Final = "job_queued"
# After the job is queued: mark the turn's info (if the turn still exists) and wake the workers.
_QUEUED = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], '1') end
return redis.call('PUBLISH', KEYS[2], '')
"""


def redis_settings(url: str) -> RedisSettings:
    return RedisSettings.from_dsn(url)


def connect(url: str) -> ArqRedis:
    """A Redis client that can also enqueue arq jobs (used for everything else too)."""
    client: ArqRedis = ArqRedis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
    return client


async def enqueue_turn(redis: ArqRedis, keys: RedisKeys, turn_id: str) -> bool:
    """Queue the turn for any worker; its id is the job id, so the same turn is never queued twice."""
    job = await redis.enqueue_job(RUN_TURN, turn_id, _job_id=turn_id, _queue_name=keys.queue)
    if job is None:
        return False
    # Workers poll rarely (idle polling cost CPU and up to one poll delay of latency); wake them.
    # The job is queued whatever happens to this: a lost wake-up costs one poll delay, not the turn,
    # and a lost mark leaves a vanished job to the pickup timeout.
    try:
        await redis.register_script(_QUEUED)(keys=[keys.turn_info(turn_id), keys.queue_wake], args=[QUEUED_FIELD])
    except RedisError as exc:
        log.warning("turn %s queued; waking the workers failed (%s), they find it at their next poll", turn_id, exc)
    return True


async def job_is_pending(redis: Redis, turn_id: str) -> bool:
    """Whether the turn's job is still queued or running (a reaper's test for a lost job)."""
    return bool(await redis.exists(job_key_prefix + turn_id, in_progress_key_prefix + turn_id))


# The queue depth looks at this many queued jobs at most (the metric then reads "this many or more").
MAX_COUNTED_JOBS: Final = 1000


async def waiting_turns(redis: ArqRedis, keys: RedisKeys) -> int:
    """Turns in the shared queue that no worker runs yet (a running job stays queued until it ends)."""
    job_ids: list[bytes] = await redis.zrange(keys.queue, 0, MAX_COUNTED_JOBS - 1)
    if not job_ids:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        for key in running_job_keys(job_ids):
            pipe.exists(key)
        running = await pipe.execute()
    return sum(1 for taken in running if not taken)


def running_job_keys(job_ids: list[bytes]) -> list[str]:
    """arq's marker of a job some worker is running, for each job id."""
    return [in_progress_key_prefix + job_id.decode() for job_id in job_ids]

"""The shared turn queue. arq is in maintenance mode, so it stays behind this one thin module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from arq.connections import ArqRedis, RedisSettings
from arq.constants import in_progress_key_prefix, job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms
from redis.asyncio import Redis

from sandchat.redis_keys import RedisKeys

RUN_TURN: Final = "run_turn"
# The turn's info field saying its job was queued (a reaper's lost-job test needs one to have been).
QUEUED_FIELD: Final = "job_queued"

# Queue a turn's job unless it exists (or ran already: its result), mark the turn's info (if the turn
# still exists) and wake the workers, atomically: what arq's enqueue_job, then a mark and a publish,
# did in five round trips. KEYS: job, result, queue, turn info, wake channel. ARGV: the serialized
# job, its expiry (ms), its score (ms), the turn id, QUEUED_FIELD. Returns 1, or 0 when the job existed.
# :mod:`sandchat.turns.routing` runs it as the end of its own scripts (their keys and arguments follow these).
ENQUEUE_LUA: Final = """
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then return 0 end
redis.call('PSETEX', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('HSET', KEYS[4], ARGV[5], '1') end
redis.call('PUBLISH', KEYS[5], '')
return 1
"""


@dataclass(frozen=True, slots=True)
class TurnJob:
    """A turn's arq job, ready for :data:`ENQUEUE_LUA` (its keys first, then its arguments)."""

    keys: list[str]
    args: list[str | bytes | int]


def turn_job(redis: ArqRedis, keys: RedisKeys, turn_id: str) -> TurnJob:
    """The job that runs the turn, as arq's enqueue_job writes it; its id is the turn's, so a turn is queued once."""
    now_ms = timestamp_ms()
    job = serialize_job(RUN_TURN, (turn_id,), {}, None, now_ms, serializer=redis.job_serializer)
    return TurnJob(
        keys=[
            job_key_prefix + turn_id,
            result_key_prefix + turn_id,
            keys.queue,
            keys.turn_info(turn_id),
            keys.queue_wake,
        ],
        args=[job, redis.expires_extra_ms, now_ms, turn_id, QUEUED_FIELD],
    )


# A worker takes queued jobs to run, as arq's Worker.start_jobs does job by job, in one round trip:
# at most ARGV[4] of the ids ARGV[5..], skipping those running (in progress), gone from the queue or
# deferred; each taken is marked in progress (ARGV[3] ms). Returns job id, score, job id, score, ...
_TAKE_JOBS = """
local taken = {}
for i = 5, #ARGV do
  if #taken >= 2 * tonumber(ARGV[4]) then break end
  local running = ARGV[1] .. ARGV[i]
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) <= tonumber(ARGV[2]) and redis.call('EXISTS', running) == 0 then
    redis.call('PSETEX', running, ARGV[3], '1')
    table.insert(taken, ARGV[i])
    table.insert(taken, score)
  end
end
return taken
"""


async def take_jobs(
    redis: Redis, queue_name: str, job_ids: list[str], most: int, in_progress_s: float
) -> list[tuple[str, int]]:
    """Mark up to ``most`` of these queued jobs in progress for this worker: (job id, score) of each taken."""
    flat = await redis.register_script(_TAKE_JOBS)(
        keys=[queue_name],
        args=[in_progress_key_prefix, timestamp_ms(), int(in_progress_s * 1000), most, *job_ids],
    )
    return [(bytes(flat[i]).decode(), int(float(flat[i + 1]))) for i in range(0, len(flat), 2)]


def redis_settings(url: str) -> RedisSettings:
    return RedisSettings.from_dsn(url)


def connect(url: str) -> ArqRedis:
    """A Redis client that can also enqueue arq jobs (used for everything else too)."""
    client: ArqRedis = ArqRedis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
    return client


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

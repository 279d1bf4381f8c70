"""The arq worker process: turn jobs plus its background duties.

Duties: heart-beat the turns it runs, stop a turn when someone cancels it (from any gateway),
probe the agent at start and every 30 s for the API's /health, reap turns of dead workers, and end
agent processes that a dead worker on this host left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from typing import Any, Final

import msgspec
from arq.constants import in_progress_key_prefix
from arq.worker import Worker, func
from redis.asyncio import Redis
from sandchat import turn_queue
from sandchat.agent_process import GROUPS
from sandchat.database import Database
from sandchat.settings import Settings
from sandchat.turn_end import run_reaper
from sandchat.turn_store import ALIVE_REFRESH_S, TurnStore

from sandchat_worker.agent_probe import probe
from sandchat_worker.agent_runners import build_runner
from sandchat_worker.turn_job import WorkerContext, run_turn

log = logging.getLogger(__name__)

PROBE_INTERVAL_S: Final = 30.0
PROBE_TTL_S: Final = 120
# A gateway wakes the workers right after each enqueue (turn_queue.wake_channel), so the queue is
# polled only as a fallback for a lost wake-up. Polling every 5 ms cost each idle worker ~10 % of a
# core and still added 2.5 ms on average to the time to first token (docs/performance.md).
POLL_DELAY_S: Final = 0.25
# On SIGTERM, let running turns finish for this long before interrupting them.
SHUTDOWN_GRACE_S: Final = 20
HEALTH_CHECK_INTERVAL_S: Final = 10


class _SandboxState(msgspec.Struct):
    status: str
    message: str


async def _heartbeat(context: WorkerContext) -> None:
    while True:
        with contextlib.suppress(Exception):
            await context.store.heartbeat(list(context.cancels), context.worker_id)
        await asyncio.sleep(ALIVE_REFRESH_S)


class TurnWorker(Worker):
    """arq's worker, woken by an enqueue (or a freed job slot) instead of polling every few ms."""

    def __init__(self, *args: Any, idle_poll_s: float, **kwargs: Any) -> None:
        super().__init__(*args, poll_delay=0, **kwargs)
        self.idle_poll_s = idle_poll_s
        self.wake = asyncio.Event()

    async def _poll_iteration(self) -> None:
        # arq's loop calls this back to back (poll_delay=0); the wait between polls happens here.
        self.wake.clear()
        await super()._poll_iteration()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), self.idle_poll_s)

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        # A running job stays in arq's queue until it ends, and arq checks each id it reads with three
        # round trips. Drop this worker's own running jobs, and others' in one round trip for all.
        candidates = [job_id for job_id in job_ids if job_id.decode() not in self.tasks]
        if candidates:
            async with self.pool.pipeline(transaction=False) as pipe:
                for job_id in candidates:
                    pipe.exists(in_progress_key_prefix + job_id.decode())
                running = await pipe.execute()
            candidates = [job_id for job_id, taken in zip(candidates, running, strict=True) if not taken]
        await super().start_jobs(candidates)

    def _release_sem_dec_counter_on_complete(self) -> None:
        full = self.job_counter >= self.max_jobs
        super()._release_sem_dec_counter_on_complete()
        if full:
            self.wake.set()  # a slot is free and queued turns may have been left waiting for one


async def _listen(context: WorkerContext, redis: Redis, worker: TurnWorker) -> None:
    """One pub/sub connection per worker: wake-ups after an enqueue, and cancels of the turns it runs."""
    pattern = context.store.keys.turn_control("*")
    wake = turn_queue.wake_channel(context.store.keys.queue)
    while True:
        try:
            async with redis.pubsub() as pubsub:
                await pubsub.psubscribe(pattern)
                await pubsub.subscribe(wake)
                worker.wake.set()  # anything enqueued while not listening
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        worker.wake.set()
                        continue
                    if message.get("type") != "pmessage":
                        continue
                    turn_id = message["channel"].decode().split(":")[-2]
                    event = context.cancels.get(turn_id)
                    if event is not None:
                        log.info("turn %s: cancel requested", turn_id)
                        event.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("cancel listener lost Redis (%s); reconnecting", type(exc).__name__)
            # A cancel sent meanwhile is still readable from its key.
            for turn_id, event in list(context.cancels.items()):
                with contextlib.suppress(Exception):
                    if await context.store.cancel_requested(turn_id):
                        event.set()
            await asyncio.sleep(1)


async def _probe_forever(context: WorkerContext, redis: Redis) -> None:
    while True:
        # Also end what a worker that died on this host left running (sandchat.agent_groups).
        await asyncio.to_thread(GROUPS.reap_orphans)
        result = await probe(context.runner)
        state = _SandboxState(result.health_status, result.message)
        try:
            await redis.set(context.store.keys.sandbox_status, msgspec.json.encode(state), ex=PROBE_TTL_S)
        except Exception as exc:
            log.warning("could not publish the sandbox state: %s", type(exc).__name__)
        log.log(logging.INFO if result.status == "healthy" else logging.WARNING, "agent probe: %s", result.message)
        await asyncio.sleep(PROBE_INTERVAL_S)


def health_check_key(settings: Settings) -> str:
    """Per host, so that a container's health check reads its own worker's sentinel."""
    return f"{settings.redis_keys.queue}:health-check:{socket.gethostname()}"


def build_worker(settings: Settings) -> Worker:
    database = Database(settings.database_url)
    runner = build_runner(settings)
    keys = settings.redis_keys
    background: list[asyncio.Task[None]] = []

    async def on_startup(ctx: dict[Any, Any]) -> None:
        redis: Redis = ctx["redis"]
        worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        context = WorkerContext(
            worker_id, TurnStore(redis, keys), database, runner, settings.agent_inactivity_timeout_s
        )
        ctx["sandchat"] = context
        with contextlib.suppress(Exception):
            await database.log_startup()
        log.info(
            "worker %s: runner %s, %d concurrent turns, queue %s",
            worker_id,
            runner.name,
            settings.worker_max_jobs,
            keys.queue,
        )
        background.extend(
            [
                asyncio.create_task(_heartbeat(context)),
                asyncio.create_task(_listen(context, redis, worker)),
                asyncio.create_task(_probe_forever(context, redis)),
                asyncio.create_task(run_reaper(context.store, database)),
            ]
        )

    async def on_shutdown(ctx: dict[Any, Any]) -> None:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await database.close()

    worker = TurnWorker(
        functions=[func(run_turn, name=turn_queue.RUN_TURN, max_tries=1)],
        queue_name=keys.queue,
        redis_settings=turn_queue.redis_settings(settings.redis_url),
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        max_jobs=settings.worker_max_jobs,
        job_timeout=7 * 24 * 3600,  # the inactivity timeout bounds a turn, not its total length
        keep_result=300,
        idle_poll_s=POLL_DELAY_S,
        max_tries=1,
        retry_jobs=False,
        job_completion_wait=SHUTDOWN_GRACE_S,
        health_check_interval=HEALTH_CHECK_INTERVAL_S,
        health_check_key=health_check_key(settings),
    )
    return worker

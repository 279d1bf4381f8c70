"""The worker process: turns from the shared arq queue and from its own inbox, plus background duties.

Duties: heart-beat itself and the turns it runs, take the turns routed to it (threads whose live
agent it holds), stop a turn or pass it a person's approval when asked (from any gateway), probe the
agent at start and every 30 s for the API's /health, reap turns of dead workers, and end agent
processes that a dead worker on this host left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
import uuid
from typing import Any, Final

from arq.connections import ArqRedis
from arq.worker import Worker, func
from redis.asyncio import Redis
from sandchat import metrics
from sandchat.agent_health import PROBE_INTERVAL_S, REPORT_TTL_S, encode_report
from sandchat.agent_logins import login_box
from sandchat.agent_process import GROUPS
from sandchat.database import Database
from sandchat.retry import Backoff
from sandchat.settings import Settings
from sandchat.turns import Turns, queue
from sandchat.turns.approvals import approved_request
from sandchat.turns.reaper import ReaperPolicy, run_reaper
from sandchat.turns.store import ALIVE_REFRESH_S

from sandchat_worker.agent_people import AgentPeople
from sandchat_worker.agent_pool import AgentPool
from sandchat_worker.agent_probe import ProbeResult, probe
from sandchat_worker.agent_runners import build_runner
from sandchat_worker.turn_approvals import deliver_answer, deliver_missed_answers
from sandchat_worker.turn_job import WorkerContext, run_claimed_turn, run_turn

log = logging.getLogger(__name__)

# A gateway wakes the workers right after each enqueue (RedisKeys.queue_wake), so the queue is
# polled only as a fallback for a lost wake-up. Polling every 5 ms cost each idle worker ~10 % of a
# core and still added 2.5 ms on average to the time to first token (docs/performance.md).
POLL_DELAY_S: Final = 0.25
# On SIGTERM, let running turns finish for this long before interrupting them.
SHUTDOWN_GRACE_S: Final = 20
HEALTH_CHECK_INTERVAL_S: Final = 10


# How long one wait for a routed turn blocks its Redis connection.
INBOX_WAIT_S: Final = 5.0


async def _heartbeat(context: WorkerContext) -> None:
    turns = context.turns
    while True:
        with contextlib.suppress(Exception):
            await turns.routing.heartbeat(context.worker_id, context.pool.threads)
            await turns.store.heartbeat(list(context.running), context.worker_id)
        await asyncio.sleep(ALIVE_REFRESH_S)


# How often a worker reads the queue's depth for sandchat_queue_depth (every worker reports it).
QUEUE_DEPTH_INTERVAL_S: Final = 5.0


async def _measure_queue(context: WorkerContext, redis: ArqRedis) -> None:
    metrics.TURNS_RUNNING.set_function(lambda: len(context.running))
    metrics.LIVE_AGENTS.set_function(lambda: len(context.pool))
    metrics.APPROVALS_PENDING.set_function(
        lambda: sum(len(running.publisher.open_requests) for running in context.running.values() if running.publisher)
    )
    while True:
        try:
            metrics.QUEUE_DEPTH.set(await queue.waiting_turns(redis, context.turns.keys))
        except Exception as exc:
            metrics.BACKEND_ERRORS.labels("redis", "queue_depth").inc()
            log.debug("queue depth unknown: %s", type(exc).__name__)
        await asyncio.sleep(QUEUE_DEPTH_INTERVAL_S)


async def _take_routed_turns(context: WorkerContext, redis_url: str) -> None:
    """Run the turns routed to this worker (their thread's live agent is here), each in its own task."""
    # A blocking pop holds its connection: its own client, so the shared pool stays free.
    client = queue.connect(redis_url)
    routing = Turns.connect(client, context.turns.keys, context.turns.database).routing
    tasks: set[asyncio.Task[str]] = set()
    backoff = Backoff()
    try:
        while True:
            try:
                turn_id = await routing.next_routed(context.worker_id, INBOX_WAIT_S)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("inbox unreachable (%s); retrying", type(exc).__name__)
                await backoff.wait()
                continue
            backoff.reset()
            if turn_id is not None:
                task = asyncio.create_task(run_claimed_turn(context, turn_id))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.aclose()


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
        # asyncio.timeout, not wait_for: Python 3.11's wait_for returns normally when it is cancelled
        # just as the event is set, and the worker's loop would then never see its own cancellation.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.idle_poll_s):
                await self.wake.wait()

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        # arq takes each job it reads in four round trips (WATCH, EXISTS, ZSCORE, MULTI/EXEC), one job
        # after the other, also those other workers run (a running job stays in the queue until it
        # ends). Here one script takes as many as this worker has room for, in one round trip; then
        # each runs as arq runs it.
        candidates = [job_id.decode() for job_id in job_ids if job_id.decode() not in self.tasks]
        room = self.max_jobs - self.job_counter
        if not candidates or room <= 0:
            return
        taken = await queue.take_jobs(self.pool, self.queue_name, candidates, room, self.in_progress_timeout_s)
        # Nothing else takes a slot meanwhile (only this loop starts jobs): each of these has one.
        for job_id, score in taken:
            await self.sem.acquire()
            self.job_counter += 1
            task = self.loop.create_task(self.run_job(job_id, score))
            task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = task

    def handle_sig_wait_for_completion(self, signum: signal.Signals) -> None:
        super().handle_sig_wait_for_completion(signum)
        # arq says so at INFO on its own logger, which is kept at WARNING (sandchat.logs).
        log.info(
            "%s: taking no new turns; %d running may finish within %d s",
            signal.Signals(signum).name,
            len(self.tasks),
            SHUTDOWN_GRACE_S,
        )

    def _release_sem_dec_counter_on_complete(self) -> None:
        full = self.job_counter >= self.max_jobs
        super()._release_sem_dec_counter_on_complete()
        if full:
            self.wake.set()  # a slot is free and queued turns may have been left waiting for one


async def _listen(context: WorkerContext, redis: Redis, worker: TurnWorker) -> None:
    """One pub/sub connection per worker: wake-ups after an enqueue, and control of the turns it runs."""
    keys = context.turns.keys
    backoff = Backoff()
    while True:
        try:
            async with redis.pubsub() as pubsub:
                await pubsub.psubscribe(keys.turn_control_pattern)
                await pubsub.subscribe(keys.queue_wake)
                backoff.reset()
                worker.wake.set()  # anything enqueued while not listening
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        worker.wake.set()
                    elif message.get("type") == "pmessage":
                        _control(context, keys.turn_of_channel(message["channel"]), message["data"])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("control listener lost Redis (%s); reconnecting", type(exc).__name__)
            # A cancel or an answer sent meanwhile is still readable from its key.
            with contextlib.suppress(Exception):
                for turn_id, running in list(context.running.items()):
                    if await context.turns.store.cancel_requested(turn_id):
                        running.stop.set()
                await deliver_missed_answers(context)
            await backoff.wait()


def _control(context: WorkerContext, turn_id: str | None, data: bytes) -> None:
    """A message on a turn's control channel: stop it, or pass it a person's approval."""
    running = context.running.get(turn_id or "")
    if running is None:
        return  # another worker's turn
    if data == b"cancel":
        log.info("turn %s: cancel requested", turn_id)
        running.stop.set()
    elif (request_id := approved_request(data)) is not None:
        running.spawn(deliver_answer(context, running, request_id))


def probe_due(last: ProbeResult, answered_at: float, now: float) -> bool:
    """Whether the agent must be probed now: not when it was healthy at the last probe and a turn on the
    service's own login has been answered within a probe period since (that proves what a probe would,
    without one more CLI start — a Node process, about half a CPU-second — beside the running turns)."""
    return last.status != "healthy" or now - answered_at > PROBE_INTERVAL_S


async def _probe_forever(context: WorkerContext, redis: Redis) -> None:
    result: ProbeResult | None = None
    while True:
        # Also end what a worker that died on this host left running (sandchat.agent_groups).
        await asyncio.to_thread(GROUPS.reap_orphans)
        if result is None or probe_due(result, context.agent_answered_at, time.monotonic()):
            result = await probe(context.pool.runner)
        report = encode_report(result.health_status, result.message)
        try:
            await redis.set(context.turns.keys.sandbox_status, report, ex=REPORT_TTL_S)
        except Exception as exc:
            log.warning("could not publish the sandbox state: %s", type(exc).__name__)
        log.log(logging.INFO if result.status == "healthy" else logging.WARNING, "agent probe: %s", result.message)
        await asyncio.sleep(PROBE_INTERVAL_S)


def health_check_key(settings: Settings) -> str:
    """Per host, so that a container's health check reads its own worker's sentinel."""
    return settings.redis_keys.worker_health_check(socket.gethostname())


def build_worker(settings: Settings, *, handle_signals: bool = True) -> Worker:
    """The worker process's arq worker; without ``handle_signals`` it runs inside another program."""
    database = Database(settings.database_url)
    runner = build_runner(settings)
    keys = settings.redis_keys
    background: list[asyncio.Task[None]] = []

    async def on_startup(ctx: dict[Any, Any]) -> None:
        redis = ctx["redis"]
        worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        turns = Turns.connect(redis, keys, database, user_max_turns=settings.user_max_turns)

        async def hold(thread_id: str) -> None:
            with contextlib.suppress(Exception):  # the heartbeat says it again
                await turns.routing.hold(thread_id, worker_id)

        async def release(thread_id: str) -> None:
            with contextlib.suppress(Exception):  # the hold expires by itself
                await turns.routing.release(thread_id, worker_id)

        pool = AgentPool(
            runner,
            max_agents=settings.worker_max_agents,
            idle_s=settings.agent_idle_s,
            on_start=hold,
            on_end=release,
        )
        context = WorkerContext(
            worker_id,
            turns,
            pool,
            settings.agent_inactivity_timeout_s,
            settings.agent_permission_mode,
            settings.approval_timeout_s,
            people=AgentPeople(database, login_box(settings.secret_key_value()), settings.agent_shared_login),
        )
        ctx["sandchat"] = context
        with contextlib.suppress(Exception):
            await database.log_startup()
        log.info(
            "worker %s: runner %s, %d concurrent turns, %d idle live agents at most, queue %s",
            worker_id,
            runner.name,
            settings.worker_max_jobs,
            settings.worker_max_agents,
            keys.queue,
        )
        background.extend(
            [
                asyncio.create_task(_heartbeat(context)),
                asyncio.create_task(_listen(context, redis, worker)),
                asyncio.create_task(_probe_forever(context, redis)),
                asyncio.create_task(_measure_queue(context, redis)),
                asyncio.create_task(_take_routed_turns(context, settings.redis_url)),
                asyncio.create_task(run_reaper(context.turns, ReaperPolicy(settings.turn_pickup_timeout_s))),
            ]
        )

    async def on_shutdown(ctx: dict[Any, Any]) -> None:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        context: WorkerContext | None = ctx.get("sandchat")
        if context is not None:
            with contextlib.suppress(Exception):
                await context.turns.routing.retire(context.worker_id)
            await context.pool.close_all()
            await context.progress.close()
            await context.turns.store.close()
        await database.close()

    worker = TurnWorker(
        functions=[func(run_turn, name=queue.RUN_TURN, max_tries=1)],
        queue_name=keys.queue,
        redis_settings=queue.redis_settings(settings.redis_url),
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
        handle_signals=handle_signals,
    )
    return worker

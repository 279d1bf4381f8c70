"""`sandchat-worker`: the arq worker pool; `sandchat-worker check` for container health checks."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

from arq.worker import Worker, async_check_health
from redis.exceptions import RedisError
from sandchat.agent_process import GROUPS
from sandchat.logs import configure_logging
from sandchat.process_memory import hide_process_memory
from sandchat.retry import Backoff
from sandchat.settings import SettingsError, load_settings
from sandchat.startup_objects import freeze_startup_objects
from sandchat.tracing import configure_tracing
from sandchat.turns import queue

from sandchat_worker.agent_runners import build_runner
from sandchat_worker.metrics_listener import serve_metrics
from sandchat_worker.worker_app import build_worker, health_check_key

log = logging.getLogger("sandchat_worker")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="sandchat-worker", description="Run turns of the agent from the queue.")
    parser.add_argument("command", nargs="?", choices=["run", "check"], default="run")
    args = parser.parse_args(argv)
    settings = load_settings()
    if args.command == "check":
        redis_settings = queue.redis_settings(settings.redis_url)
        sys.exit(asyncio.run(async_check_health(redis_settings, health_check_key(settings))))
    # An agent started here runs as this user: it must not read this process's environment (the secrets).
    hide_process_memory()
    configure_logging("worker", settings.log_format)
    configure_tracing("worker", settings.otel_exporter_otlp_endpoint)
    try:
        build_runner(settings)  # refused now, with one line, rather than on every turn
    except SettingsError as exc:
        print(f"sandchat: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    GROUPS.reap_orphans()
    serve_metrics(settings.worker_metrics_host, settings.worker_metrics_port)
    freeze_startup_objects()

    async def run() -> None:
        # arq binds its worker to the running loop (and its signal handlers), so build it inside.
        backoff = Backoff()
        while True:
            worker = build_worker(settings)
            try:
                await worker.async_run()
            except asyncio.CancelledError:
                # SIGTERM/SIGINT: arq let the running turns finish within the grace, then stopped polling.
                await _close(worker)
                log.info("worker stopped")
                return
            except (RedisError, OSError) as exc:
                # arq's poll loop dies with its Redis connection; start over instead of serving nothing.
                delay = backoff.next_delay()
                log.warning("worker lost Redis (%s); starting over in %.1f s", type(exc).__name__, delay)
                await _close(worker)
                await asyncio.sleep(delay)

    asyncio.run(run())


async def _close(worker: Worker) -> None:
    try:
        await worker.close()
    except Exception:  # Redis is away: at least stop the worker's own background duties
        if worker.on_shutdown is not None:
            with contextlib.suppress(Exception):
                await worker.on_shutdown(worker.ctx)


if __name__ == "__main__":
    main()

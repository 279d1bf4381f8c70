"""`sandchat-worker`: the arq worker pool; `sandchat-worker check` for container health checks."""

from __future__ import annotations

import argparse
import asyncio
import sys

from arq.worker import async_check_health
from sandchat import turn_queue
from sandchat.logs import configure_logging
from sandchat.settings import load_settings

from sandchat_worker.worker_app import build_worker, health_check_key


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="sandchat-worker", description="Run turns of the agent from the queue.")
    parser.add_argument("command", nargs="?", choices=["run", "check"], default="run")
    args = parser.parse_args(argv)
    settings = load_settings()
    if args.command == "check":
        redis_settings = turn_queue.redis_settings(settings.redis_url)
        sys.exit(asyncio.run(async_check_health(redis_settings, health_check_key(settings))))
    configure_logging("worker")

    async def run() -> None:
        # arq binds its worker to the running loop (and its signal handlers), so build it inside.
        await build_worker(settings).async_run()

    asyncio.run(run())


if __name__ == "__main__":
    main()

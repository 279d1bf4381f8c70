"""The gateway and the worker in this test's own process: real Redis, real databases, real sockets.

Most of the chat's behaviour is proven here in seconds; tests/e2e proves the same services as
separate processes (the wiring), the way compose runs them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from arq.worker import Worker
from sandchat.database import Database
from sandchat.settings import Settings, build_settings
from sandchat.turns import Turns, queue
from sandchat_dev.stack import free_port
from sandchat_gateway.server import Gateway
from sandchat_worker.turn_job import WorkerContext
from sandchat_worker.worker_app import build_worker


@dataclass
class Services:
    settings: Settings
    turns: Turns
    worker: Worker

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.settings.gateway_port}/chat"

    @property
    def context(self) -> WorkerContext:
        """The worker's own state (its live agents), once it has started."""
        context: WorkerContext = self.worker.ctx["sandchat"]
        return context


async def _wait_for_port(port: int, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while True:
            with contextlib.suppress(OSError):
                _reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                await writer.wait_closed()
                return
            await asyncio.sleep(0.02)


@pytest.fixture
def simulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fast simulated agent with its own sessions."""
    monkeypatch.setenv("SIMULATOR_STATE_DIR", str(tmp_path / "simulator"))
    monkeypatch.setenv("SIMULATOR_DELAY_MS", "5")


@pytest.fixture
def service_settings() -> dict[str, object]:
    """Settings a test module overrides for its services (e.g. APPROVAL_TIMEOUT_S)."""
    return {}


@pytest.fixture
async def services(
    database_url: str,
    redis_url: str,
    redis_namespace: str,
    database: Database,
    simulator: None,
    service_settings: dict[str, object],
) -> AsyncIterator[Services]:
    settings = build_settings(
        database_url=database_url,
        redis_url=redis_url,
        redis_namespace=redis_namespace,
        gateway_port=free_port(),
        agent_runner="simulator",
        turn_pickup_timeout_s=10,
        **service_settings,
    )
    stop = asyncio.Event()
    gateway = asyncio.create_task(Gateway(settings).run(stop))
    worker: Worker = build_worker(settings, handle_signals=False)
    working = asyncio.create_task(worker.async_run())
    client = queue.connect(redis_url)
    try:
        await _wait_for_port(settings.gateway_port)
        yield Services(settings, Turns.connect(client, settings.redis_keys, database), worker)
    finally:
        stop.set()
        working.cancel()
        await asyncio.gather(gateway, working, return_exceptions=True)
        await stop_worker(worker)
        await client.aclose()


async def stop_worker(worker: Worker) -> None:
    """Stop an in-process arq worker: its turns end (interrupted), then its duties and connections."""
    jobs = list(worker.tasks.values())
    for job in jobs:
        job.cancel()
    await asyncio.gather(*jobs, return_exceptions=True)
    worker.tasks.clear()  # arq's close() would re-raise each cancelled job
    await worker.close()

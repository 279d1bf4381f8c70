"""The gateway and the worker in this test's own process: real Redis, real databases, real sockets.

Most of the chat's behaviour is proven here in seconds; tests/e2e proves the same services as
separate processes (the wiring), the way compose runs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
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

from tests.e2e.chat_client import ChatClient, Event


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


# A service that takes longer than this to stop is stuck: the test fails naming it, with every task's stack.
STOP_TIMEOUT_S = 30.0


async def stopped_in_time(work: Awaitable[object], what: str) -> None:
    """Await a service's stop; if it hangs, print where every task waits and fail naming it."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=STOP_TIMEOUT_S)
    if not done:
        for other in asyncio.all_tasks():
            other.print_stack(file=sys.stderr)
        task.cancel()
        raise AssertionError(f"{what} did not stop within {STOP_TIMEOUT_S:g} s (task stacks on stderr)")
    task.result()


@contextlib.asynccontextmanager
async def gateway_running(**settings: object) -> AsyncIterator[Settings]:
    """The gateway's server in this process on a free port, with ``settings``, until the block ends."""
    served = build_settings(gateway_port=free_port(), **settings)
    stop = asyncio.Event()
    gateway = asyncio.create_task(Gateway(served).run(stop))
    try:
        await _wait_for_port(served.gateway_port)
        yield served
    finally:
        stop.set()
        await stopped_in_time(asyncio.gather(gateway, return_exceptions=True), "the gateway")


@pytest.fixture
async def services(
    database_url: str,
    redis_url: str,
    redis_namespace: str,
    database: Database,
    simulator: None,
    service_settings: dict[str, object],
) -> AsyncIterator[Services]:
    async with gateway_running(
        database_url=database_url,
        redis_url=redis_url,
        redis_namespace=redis_namespace,
        agent_runner="simulator",
        turn_pickup_timeout_s=10,
        **service_settings,
    ) as settings:
        worker: Worker = build_worker(settings, handle_signals=False)
        working = asyncio.create_task(worker.async_run())
        client = queue.connect(redis_url)
        try:
            yield Services(settings, Turns.connect(client, settings.redis_keys, database), worker)
        finally:
            working.cancel()
            await stopped_in_time(asyncio.gather(working, return_exceptions=True), "the worker's main task")
            await stopped_in_time(stop_worker(worker), "the worker")
            await client.aclose()


OpenClient = Callable[[], Awaitable[ChatClient]]


@pytest.fixture
async def open_client(services: Services) -> AsyncIterator[OpenClient]:
    """Open chat clients on the services' gateway; every one is closed when the test ends, failed or not."""
    opened: list[ChatClient] = []

    async def open_one() -> ChatClient:
        client = await ChatClient.open(services.gateway_url)
        opened.append(client)
        return client

    yield open_one
    for client in opened:
        await client.close()


async def watch(client: ChatClient, thread_id: str) -> Event:
    """Have ``client`` follow the thread; the gateway's answer (``watching``, or the error refusing it)."""
    await client.send({"type": "watch", "threadId": thread_id})
    return await client.receive()


async def stop_worker(worker: Worker) -> None:
    """Stop an in-process arq worker: its turns end (interrupted), then its duties and connections."""
    jobs = list(worker.tasks.values())
    for job in jobs:
        job.cancel()
    await asyncio.gather(*jobs, return_exceptions=True)
    worker.tasks.clear()  # arq's close() would re-raise each cancelled job
    await worker.close()

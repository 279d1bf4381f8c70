"""A worker told to stop stops, whatever its loop was doing at that moment."""

from __future__ import annotations

import asyncio

from sandchat_worker.worker_app import TurnWorker

from tests.gateway.in_process import eventually
from tests.services.conftest import Services


async def test_a_worker_stopped_just_as_an_enqueue_wakes_it_stops(services: Services) -> None:
    worker = services.worker
    assert isinstance(worker, TurnWorker)

    async def idle() -> bool:
        # Between two polls: waiting for a wake-up (an enqueue, a freed slot) or the next poll.
        return worker.main_task is not None and bool(worker.wake._waiters)

    await eventually(idle, 15, "the worker's loop waiting between polls")
    main = worker.main_task
    assert main is not None
    worker.wake.set()  # an enqueue's wake-up, and the stop in the same moment
    main.cancel()
    done, _ = await asyncio.wait({main}, timeout=10)
    assert done == {main}
    assert main.cancelled()

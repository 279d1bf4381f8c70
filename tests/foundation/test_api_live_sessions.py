"""The HTTP side of live sessions: permission modes, a thread's activity, taking back a queued message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from sandchat import threads
from sandchat.database import Database
from sandchat.redis_keys import RedisKeys
from sandchat.turns import Turns, queue
from sandchat.turns.beginning import MessageQueued, TurnBegun

from tests.foundation.conftest import Client
from tests.turns.conftest import send


@pytest.fixture
def api_settings() -> dict[str, Any]:
    return {"agent_permission_mode": "acceptEdits"}


@pytest.fixture
async def turns(redis_url: str, redis_keys: RedisKeys, database: Database) -> AsyncIterator[Turns]:
    client = queue.connect(redis_url)
    yield Turns.connect(client, redis_keys, database)
    await client.aclose()


async def test_a_thread_follows_the_default_mode_until_it_chooses_its_own(client: Client) -> None:
    thread = (await client.post("/threads", json={})).json()["thread"]
    assert thread["permissionMode"] == "acceptEdits"

    changed = await client.patch(f"/threads/{thread['id']}", json={"permissionMode": "default"})

    assert changed.status_code == 200
    assert changed.json()["thread"]["permissionMode"] == "default"
    assert changed.json()["thread"]["title"] == thread["title"]
    listed = (await client.get("/threads")).json()["threads"][0]
    assert listed["permissionMode"] == "default"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"permissionMode": "yolo"}, "permissionMode"),
        ({}, "Nothing to change: give a title or a permissionMode."),
    ],
)
async def test_a_bad_thread_update_is_refused_with_one_sentence(client: Client, body: object, detail: str) -> None:
    thread = (await client.post("/threads", json={})).json()["thread"]

    refused = await client.patch(f"/threads/{thread['id']}", json=body)

    assert refused.status_code == 400
    assert detail in refused.json()["detail"]


async def test_a_thread_shows_whether_a_reply_runs_or_waits_for_a_person(
    client: Client, turns: Turns, database: Database
) -> None:
    thread_id = (await client.post("/threads", json={})).json()["thread"]["id"]
    begun = await send(turns, thread_id, "do it")
    assert isinstance(begun, TurnBegun)
    assert (await client.get(f"/threads/{thread_id}")).json()["thread"]["activity"] == "running"

    await turns.store.claim(begun.info.turn_id, "worker-1")
    await turns.approvals.ask(begun.info.turn_id, "req-1")

    assert (await client.get("/threads")).json()["threads"][0]["activity"] == "waiting"


async def test_a_queued_message_can_be_taken_back_until_it_starts(
    client: Client, turns: Turns, database: Database, redis: Redis
) -> None:
    thread_id = (await client.post("/threads", json={})).json()["thread"]["id"]
    await send(turns, thread_id, "first")
    queued = await send(turns, thread_id, "second thoughts")
    assert isinstance(queued, MessageQueued)
    path = f"/threads/{thread_id}/messages/{queued.message_id}"

    removed = await client.delete(path)
    again = await client.delete(path)

    assert removed.status_code == 204
    assert again.status_code == 404
    async with database.reading() as session:
        assert "second thoughts" not in [m.content for m in await threads.list_messages(session, thread_id)]


async def test_a_message_already_sent_to_the_agent_cannot_be_taken_back(client: Client, turns: Turns) -> None:
    thread_id = (await client.post("/threads", json={})).json()["thread"]["id"]
    begun = await send(turns, thread_id, "first")
    assert isinstance(begun, TurnBegun)

    refused = await client.delete(f"/threads/{thread_id}/messages/{begun.info.user_message_id}")

    assert refused.status_code == 409
    assert refused.json()["detail"] == "This message has already been sent to the agent; it can no longer be removed."

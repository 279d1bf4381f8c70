"""A chat through the gateway and a worker in this process: turns, queued messages, watchers, cancel."""

from __future__ import annotations

import uuid
from typing import Any

from sandchat import threads
from sandchat.database import Database
from sandchat_api.app import create_app
from sandchat_gateway.chat import NOTHING_TO_RESUME

from tests.api_client import api_client
from tests.e2e.chat_client import ChatClient
from tests.services.conftest import OpenClient, Services, watch
from tests.turns.conftest import new_thread


async def sender_and_watcher(database: Database, open_client: OpenClient) -> tuple[str, ChatClient, ChatClient]:
    """A new thread, a tab that will send to it, and a second tab already watching it."""
    thread_id = await new_thread(database)
    sender = await open_client()
    watcher = await open_client()
    assert await watch(watcher, thread_id) == {"type": "watching", "threadId": thread_id, "turnId": None}
    return thread_id, sender, watcher


async def test_a_message_streams_a_reply_that_is_stored(database: Database, open_client: OpenClient) -> None:
    thread_id = await new_thread(database)
    client = await open_client()
    started, record = await client.turn(thread_id, "hello in process")
    assert record.final["type"] == "done"
    assert record.text.startswith("You said: hello in process")
    assert record.seqs == list(range(1, len(record.seqs) + 1))
    async with database.reading() as session:
        reply = await threads.get_message(session, started["messageId"])
    assert reply is not None
    assert (reply.content, reply.status) == (record.text, "complete")


async def test_a_second_tab_watching_the_thread_sees_the_turn_another_tab_started(
    database: Database, open_client: OpenClient
) -> None:
    thread_id, sender, watcher = await sender_and_watcher(database, open_client)
    started = await sender.message(thread_id, "both tabs see this")
    seen = await watcher.receive()
    assert seen == started
    sent, watched = await sender.until_final(), await watcher.until_final()
    assert watched.text == sent.text
    assert watched.final == sent.final


async def test_messages_typed_while_the_agent_works_run_in_order_afterwards(
    database: Database, open_client: OpenClient
) -> None:
    thread_id = await new_thread(database)
    client = await open_client()
    first = await client.message(thread_id, "first")
    await client.send({"type": "message", "threadId": thread_id, "content": "second"})
    await client.send({"type": "message", "threadId": thread_id, "content": "third"})
    seen: list[dict[str, Any]] = []
    while len([event for event in seen if event["type"] in ("done", "error")]) < 3:
        seen.append(await client.receive())
    queued = [event for event in seen if event["type"] == "queued"]
    assert [event["position"] for event in queued] == [1, 2]
    starts = [event for event in seen if event["type"] == "started"]
    assert [event["userMessageId"] for event in starts] == [event["messageId"] for event in queued]
    finals = [event for event in seen if event["type"] in ("done", "error")]
    assert [final["type"] for final in finals] == ["done", "done", "done"]
    assert [final["turnId"] for final in finals] == [first["turnId"]] + [event["turnId"] for event in starts]
    async with database.reading() as session:
        stored = await threads.list_messages(session, thread_id)
    assert [(m.role, m.content.split("\n")[0]) for m in stored] == [
        ("user", "first"),
        ("assistant", "You said: first"),
        ("user", "second"),
        ("assistant", "You said: second"),
        ("user", "third"),
        ("assistant", "You said: third"),
    ]


async def test_watching_a_thread_that_does_not_exist_is_refused(open_client: OpenClient) -> None:
    refused = await watch(await open_client(), "0b1c2d3e-0000-4000-8000-000000000000")
    assert (refused["type"], refused["code"]) == ("error", "thread_not_found")


async def test_a_thread_deleted_after_a_socket_used_it_answers_watch_and_resume_as_an_unknown_one(
    services: Services, database: Database, open_client: OpenClient
) -> None:
    thread_id = await new_thread(database)
    unknown = str(uuid.uuid4())
    client = await open_client()
    assert (await watch(client, thread_id))["type"] == "watching"
    await client.send({"type": "resume", "threadId": thread_id, "afterSeq": 0})
    assert (await client.receive())["message"] == NOTHING_TO_RESUME
    async with api_client(create_app(services.settings)) as http:
        assert (await http.delete(f"/threads/{thread_id}")).status_code == 204
    answers: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for request in ({"type": "watch"}, {"type": "resume", "afterSeq": 0}):
        await client.send({**request, "threadId": thread_id})
        deleted = await client.receive()
        await client.send({**request, "threadId": unknown})
        answers.append((deleted, await client.receive()))
    for deleted, never_existed in answers:
        assert deleted == {**never_existed, "threadId": thread_id}
        assert (deleted["type"], deleted["code"]) == ("error", "thread_not_found")


async def test_the_sender_is_answered_with_its_own_message_id_and_other_tabs_are_not(
    database: Database, open_client: OpenClient
) -> None:
    thread_id, sender, watcher = await sender_and_watcher(database, open_client)
    await sender.send({"type": "message", "threadId": thread_id, "content": "first", "clientMessageId": "tab-a-1"})
    answer = await sender.receive()
    seen = await watcher.receive()
    await sender.send({"type": "message", "threadId": thread_id, "content": "second", "clientMessageId": "tab-a-2"})
    while (queued := await sender.receive())["type"] != "queued":
        pass
    assert (answer["type"], answer["clientMessageId"]) == ("started", "tab-a-1")
    assert seen["type"] == "started"
    assert "clientMessageId" not in seen
    assert queued["clientMessageId"] == "tab-a-2"

"""Every thread and every message reachable by cursor, through the API and `sandchat threads`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient, TestClient
from sandchat import threads
from sandchat.database import Database
from sandchat.models import LOCAL_USER_ID, Message, Thread
from sandchat.settings import build_settings
from sandchat_api.app import create_app
from sandchat_cli.__main__ import list_threads
from sqlalchemy import insert

Client = AsyncTestClient[Litestar]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def client(database_url: str, redis_url: str, redis_namespace: str) -> AsyncIterator[Client]:
    settings = build_settings(database_url=database_url, redis_url=redis_url, redis_namespace=redis_namespace)
    async with AsyncTestClient(app=create_app(settings), base_url="http://127.0.0.1:8000") as test_client:
        yield test_client


async def _bulk_threads(database: Database, count: int) -> set[str]:
    """``count`` threads, three to each `updated_at` (so ties are broken by id), inserted in one go."""
    rows = [
        {
            "id": f"bulk-{index:05d}",
            "title": f"bulk {index}",
            "owner_id": LOCAL_USER_ID,
            "created_at": EPOCH,
            "updated_at": EPOCH + timedelta(seconds=index // 3),
        }
        for index in range(count)
    ]
    async with database.transaction() as session:
        await session.execute(insert(Thread), rows)
    return {f"bulk-{index:05d}" for index in range(count)}


async def _conversation(database: Database, count: int) -> tuple[str, list[str]]:
    async with database.transaction() as session:
        thread = await threads.create_thread(session, "long")
        rows = [
            {
                "id": f"m-{index:03d}",
                "thread_id": thread.id,
                "role": "user",
                "content": f"message {index}",
                "status": "complete",
                "created_at": EPOCH + timedelta(seconds=index // 2),
            }
            for index in range(count)
        ]
        await session.execute(insert(Message), rows)
    return thread.id, [f"m-{index:03d}" for index in range(count)]


async def test_ten_thousand_threads_page_to_the_end_with_none_missing_or_repeated_while_new_ones_arrive(
    client: Client, database: Database
) -> None:
    expected = await _bulk_threads(database, 10_000)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/threads", params=params)).json()
        seen += [thread["id"] for thread in page["threads"] if thread["id"].startswith("bulk-")]
        await client.post("/threads", json={"title": "arrived while paging"})
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 10_000
    assert set(seen) == expected
    assert seen[0] == "bulk-09999"


async def test_a_thread_opened_by_its_link_has_its_own_title(client: Client, database: Database) -> None:
    await _bulk_threads(database, 60)
    response = await client.get("/threads/bulk-00000")
    assert response.json()["thread"]["title"] == "bulk 0"


async def test_messages_page_from_the_newest_to_the_oldest_and_back(client: Client, database: Database) -> None:
    thread_id, ids = await _conversation(database, 25)
    path = f"/threads/{thread_id}/messages"
    newest = (await client.get(path, params={"limit": 10})).json()
    assert [m["id"] for m in newest["messages"]] == ids[15:]
    assert newest["newerCursor"] is None

    older = (await client.get(path, params={"limit": 10, "before": newest["olderCursor"]})).json()
    assert [m["id"] for m in older["messages"]] == ids[5:15]
    oldest = (await client.get(path, params={"limit": 10, "before": older["olderCursor"]})).json()
    assert [m["id"] for m in oldest["messages"]] == ids[:5]
    assert oldest["olderCursor"] is None

    forward = (await client.get(path, params={"limit": 10, "after": oldest["newerCursor"]})).json()
    assert [m["id"] for m in forward["messages"]] == ids[5:15]
    last = (await client.get(path, params={"limit": 10, "after": forward["newerCursor"]})).json()
    assert [m["id"] for m in last["messages"]] == ids[15:]
    assert last["newerCursor"] is None


async def test_a_page_around_a_message_holds_it_with_cursors_both_ways(client: Client, database: Database) -> None:
    thread_id, ids = await _conversation(database, 25)
    page = (await client.get(f"/threads/{thread_id}/messages", params={"limit": 6, "around": ids[12]})).json()
    assert [m["id"] for m in page["messages"]] == ids[10:16]
    assert (page["olderCursor"], page["newerCursor"]) == (ids[10], ids[15])


async def test_a_bare_request_gets_the_newest_page_only(client: Client, database: Database) -> None:
    thread_id, ids = await _conversation(database, 120)
    page = (await client.get(f"/threads/{thread_id}/messages")).json()
    assert [m["id"] for m in page["messages"]] == ids[-50:]
    assert page["olderCursor"] == ids[70]


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"before": "no-such-message"}, "The cursor names no message of this thread."),
        ({"after": "x" * 500}, "The cursor names no message of this thread."),
        ({"before": "m-001", "after": "m-002"}, "Give at most one of before, after and around."),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
    ],
)
async def test_bad_message_cursors_are_one_clear_400(
    client: Client, database: Database, params: dict[str, str], detail: str
) -> None:
    thread_id, _ = await _conversation(database, 3)
    response = await client.get(f"/threads/{thread_id}/messages", params=params)
    assert response.status_code == 400
    assert detail in response.json()["detail"]


async def test_a_cursor_from_another_thread_is_refused(client: Client, database: Database) -> None:
    _, ids = await _conversation(database, 3)
    other = (await client.post("/threads", json={})).json()["thread"]["id"]
    response = await client.get(f"/threads/{other}/messages", params={"before": ids[0]})
    assert response.status_code == 400


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sandchat_threads_lists_a_limit_or_every_thread(
    database_url: str, database: Database, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await _bulk_threads(database, 450)
    settings = build_settings(database_url=database_url, redis_url=redis_url)
    with TestClient(app=create_app(settings), base_url="http://127.0.0.1:8000") as api:
        assert list_threads(api, 7) == 0
        limited = capsys.readouterr().out.splitlines()
        assert list_threads(api, None) == 0
        every = capsys.readouterr().out.splitlines()
    assert len(limited) == 7
    assert limited[0].startswith("bulk-00449 ")
    assert len(every) == len({line.split()[0] for line in every}) == 450

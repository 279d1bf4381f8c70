"""Full-text search across titles and messages, on SQLite (FTS5) and PostgreSQL (tsvector + GIN)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import TestClient
from sandchat import search, threads
from sandchat.database import Database
from sandchat.models import Message
from sandchat.settings import build_settings
from sandchat_api.app import create_app
from sandchat_cli.__main__ import search_threads
from sqlalchemy import insert

from tests.foundation.conftest import Client


async def _thread(database: Database, title: str, *messages: str) -> tuple[str, list[str]]:
    async with database.transaction() as session:
        thread = await threads.create_thread(session, title)
        ids = [(await threads.add_message(session, thread.id, "user", text)).id for text in messages]
    return thread.id, ids


async def _find(client: Client, q: str, **params: str | int) -> list[dict[str, object]]:
    response = await client.get("/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    results: list[dict[str, object]] = response.json()["results"]
    return results


def _marked(result: dict[str, object]) -> list[str]:
    parts = result["snippet"]
    assert isinstance(parts, list)
    return [part["text"] for part in parts if part["hit"]]


async def test_words_are_found_in_titles_and_in_messages_by_prefix(client: Client, database: Database) -> None:
    shed, (roof,) = await _thread(database, "Garden shed", "The roof needs new felt before the deployment.")
    await _thread(database, "Unrelated", "Nothing about it here.")

    in_title = await _find(client, "shed")
    assert [(r["threadId"], r["messageId"]) for r in in_title] == [(shed, None)]
    assert _marked(in_title[0]) == ["shed"]

    in_body = await _find(client, "DEPLOY felt")
    assert [(r["threadId"], r["messageId"], r["threadTitle"]) for r in in_body] == [(shed, roof, "Garden shed")]
    assert _marked(in_body[0]) == ["felt", "deployment"]
    assert await _find(client, "roof nothing") == []


async def test_the_best_match_comes_first(client: Client, database: Database) -> None:
    filler = " ".join(f"word{index}" for index in range(200))
    _, (weak,) = await _thread(database, "a", f"{filler} gutter {filler}")
    _, (strong,) = await _thread(database, "b", "gutter gutter gutter, the gutter again")
    assert [r["messageId"] for r in await _find(client, "gutter")] == [strong, weak]


async def test_a_word_used_more_often_than_the_window_ranks_among_its_newest_uses(
    client: Client, database: Database
) -> None:
    # The oldest uses are the strongest matches, but a common word is ranked among its newest uses
    # only (so that it costs what a rarer word does), on both backends.
    thread_id, _ = await _thread(database, "lights")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    old, window = 40, search.SQLITE_RANKED_WINDOW
    rows = [
        {
            "thread_id": thread_id,
            "role": "user",
            "content": "beacon beacon beacon beacon" if index < old else f"a beacon, number {index}",
            "created_at": start + timedelta(seconds=index),
        }
        for index in range(old + window)
    ]
    async with database.transaction() as session:
        await session.execute(insert(Message), rows)
    found = await _find(client, "beacon", limit=search.MAX_SEARCH_PAGE)
    assert len(found) == search.MAX_SEARCH_PAGE
    assert {result["snippet"][0]["text"] for result in found} == {"a "}  # type: ignore[index]


async def test_results_page_to_the_end_with_none_missing_or_repeated(client: Client, database: Database) -> None:
    _, ids = await _thread(database, "many", *(f"lantern number {index}" for index in range(23)))
    seen: list[object] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"q": "lantern", "limit": 10, **({"cursor": cursor} if cursor else {})}
        body = (await client.get("/search", params=params)).json()
        seen += [r["messageId"] for r in body["results"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 23
    assert set(seen) == set(ids)


async def test_the_index_follows_new_messages_replies_renames_and_deletes(client: Client, database: Database) -> None:
    thread_id, _ = await _thread(database, "Old title", "first words")
    assert await _find(client, "pelican") == []
    async with database.transaction() as session:
        reply = await threads.add_message(session, thread_id, "assistant", "", status="streaming")
    async with database.transaction() as session:
        await threads.write_progress(session, {reply.id: "a pelican flew"})
    assert [r["messageId"] for r in await _find(client, "pelican")] == [reply.id]

    async with database.transaction() as session:
        await threads.rename_thread(session, thread_id, "Brand new name")
    assert await _find(client, "old title") == []
    assert [r["threadId"] for r in await _find(client, "brand")] == [thread_id]

    async with database.transaction() as session:
        await threads.delete_thread(session, thread_id)
    assert await _find(client, "pelican") == []
    assert await _find(client, "brand") == []


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"q": "?!"}, "Search for at least one word"),
        ({"q": "x", "cursor": "forged"}, "cursor"),
        ({}, "q"),
        ({"q": "x" * 201}, "q"),
    ],
)
async def test_bad_searches_are_one_clear_400(client: Client, params: dict[str, str], detail: str) -> None:
    response = await client.get("/search", params=params)
    assert response.status_code == 400
    assert detail in response.json()["detail"]


def test_a_snippet_is_cut_around_the_first_match_and_marks_every_match() -> None:
    text = " ".join(["lorem"] * 60) + " the Deployment plan, deploy again " + " ".join(["ipsum"] * 60)
    parts = search.snippet(text, ["deploy"])
    assert parts[0].text == "…"
    assert parts[-1].text == "…"
    assert [part.text for part in parts if part.hit] == ["Deployment", "deploy"]
    assert len("".join(part.text for part in parts)) <= search.SNIPPET_CHARS + 2


def test_short_words_match_whole_and_punctuation_is_no_word() -> None:
    assert search.query_words("  Go, go-to: C++!  ") == ["go", "to", "c"]
    assert [part.text for part in search.snippet("go gopher", ["go"]) if part.hit] == ["go"]
    with pytest.raises(search.EmptySearchError):
        search.query_words("?! --")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sandchat_search_prints_each_match_with_its_thread(
    database_url: str, database: Database, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    thread_id, (message_id,) = await _thread(database, "Boat", "the keel is cracked")
    settings = build_settings(database_url=database_url, redis_url=redis_url)
    with TestClient(app=create_app(settings), base_url="http://127.0.0.1:8000") as api:
        assert search_threads(api, "keel", 20) == 0
        assert search_threads(api, "nowhere", 20) == 1
    out = capsys.readouterr().out
    assert out.splitlines() == [f"{thread_id}  {message_id}  Boat", "    the keel is cracked"]

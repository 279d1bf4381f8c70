"""A thread exported whole, as Markdown and as JSON, through the API and `sandchat export`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sandchat import threads
from sandchat.database import Database
from sandchat.settings import build_settings
from sandchat_api.app import create_app
from sandchat_cli.__main__ import export_thread

from tests.foundation.conftest import Client


async def _conversation(database: Database) -> str:
    async with database.transaction() as session:
        thread = await threads.create_thread(session, "Fix the flaky test")
        await threads.add_message(session, thread.id, "user", "Why does `test_x` fail?")
        await threads.add_message(session, thread.id, "assistant", "It races.", status="cancelled")
    return thread.id


async def test_markdown_export_reads_as_the_conversation(client: Client, database: Database) -> None:
    thread_id = await _conversation(database)
    response = await client.get(f"/threads/{thread_id}/export")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/markdown")
    assert f'filename="sandchat-fix-the-flaky-test-{thread_id[:8]}.md"' in response.headers["content-disposition"]
    text = response.text
    assert text.startswith("# Fix the flaky test\n")
    assert "## You · " in text
    assert "Why does `test_x` fail?" in text
    assert text.index("## You") < text.index("## Agent") < text.index("It races.") < text.index("_(stopped)_")


async def test_json_export_holds_every_message(client: Client, database: Database) -> None:
    thread_id = await _conversation(database)
    response = await client.get(f"/threads/{thread_id}/export", params={"format": "json"})
    document = response.json()
    assert document["thread"]["id"] == thread_id
    assert [(m["role"], m["status"]) for m in document["messages"]] == [
        ("user", "complete"),
        ("assistant", "cancelled"),
    ]


async def test_export_of_no_thread_or_an_unknown_format_is_refused(client: Client, database: Database) -> None:
    thread_id = await _conversation(database)
    assert (await client.get("/threads/nope/export")).status_code == 404
    refused = await client.get(f"/threads/{thread_id}/export", params={"format": "pdf"})
    assert refused.status_code == 400
    assert "format" in refused.json()["detail"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sandchat_export_writes_the_file(
    database_url: str, database: Database, redis_url: str, tmp_path: Path
) -> None:
    thread_id = await _conversation(database)
    target = tmp_path / "thread.json"
    settings = build_settings(database_url=database_url, redis_url=redis_url)
    with TestClient(app=create_app(settings), base_url="http://127.0.0.1:8000") as api:
        assert export_thread(api, thread_id, "json", str(target)) == 0
    assert json.loads(target.read_text())["thread"]["title"] == "Fix the flaky test"

"""The HTTP API (docs/protocol.md#http) through Litestar's test client, on SQLite and PostgreSQL with real Redis."""

from __future__ import annotations

import re
import time

import pytest
from redis.asyncio import Redis
from sandchat.agent_health import STALE_AFTER_S, encode_report
from sandchat.redis_keys import RedisKeys

from tests.foundation.conftest import Client


async def test_created_thread_is_listed_first_with_no_messages(client: Client) -> None:
    await client.post("/threads", json={"title": "older"})
    created = await client.post("/threads", json={})
    assert created.status_code == 201
    thread = created.json()["thread"]
    assert thread["title"] == "New conversation"
    assert set(thread) == {
        "id",
        "title",
        "claudeSessionId",
        "createdAt",
        "updatedAt",
        "permissionMode",
        "activity",
        "forkedFrom",
    }
    assert (thread["permissionMode"], thread["activity"], thread["forkedFrom"]) == ("bypassPermissions", "idle", None)

    listing = (await client.get("/threads")).json()
    assert listing["threads"][0]["id"] == thread["id"]
    assert listing["nextCursor"] is None
    assert (await client.get(f"/threads/{thread['id']}/messages")).json() == {
        "messages": [],
        "olderCursor": None,
        "newerCursor": None,
    }


async def test_listing_pages_with_next_cursor(client: Client) -> None:
    for index in range(5):
        await client.post("/threads", json={"title": f"t{index}"})
    first = (await client.get("/threads", params={"limit": 2})).json()
    assert [thread["title"] for thread in first["threads"]] == ["t4", "t3"]
    second = (await client.get("/threads", params={"limit": 2, "cursor": first["nextCursor"]})).json()
    assert [thread["title"] for thread in second["threads"]] == ["t2", "t1"]


async def test_rename_and_delete(client: Client) -> None:
    thread_id = (await client.post("/threads", json={})).json()["thread"]["id"]
    renamed = await client.patch(f"/threads/{thread_id}", json={"title": "Deploy plan"})
    assert renamed.status_code == 200
    assert renamed.json()["thread"]["title"] == "Deploy plan"
    assert (await client.delete(f"/threads/{thread_id}")).status_code == 204
    assert (await client.get(f"/threads/{thread_id}/messages")).status_code == 404
    assert (await client.delete(f"/threads/{thread_id}")).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/threads/does-not-exist/messages", None),
        ("PATCH", "/threads/does-not-exist", {"title": "x"}),
        ("DELETE", "/threads/does-not-exist", None),
    ],
)
async def test_unknown_thread_is_404_with_detail(client: Client, method: str, path: str, body: object) -> None:
    response = await client.request(method, path, json=body)
    assert response.status_code == 404
    assert response.json() == {"detail": "No thread with this id."}


@pytest.mark.parametrize(
    ("content", "detail_part"),
    [
        (b"{", "not valid JSON"),
        (b'{"title": 5}', "Expected `str"),
        (b'{"title": "' + b"x" * 201 + b'"}', "length <= 200"),
        (b'{"colour": "red"}', "unknown field `colour`"),
        (b"[1, 2]", "Expected `object"),
    ],
)
async def test_bad_body_is_400_with_one_clear_detail(client: Client, content: bytes, detail_part: str) -> None:
    response = await client.post("/threads", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"detail"}
    assert detail_part in body["detail"]
    assert "Traceback" not in body["detail"]


async def test_bad_query_parameters_are_400(client: Client) -> None:
    for params in ({"limit": "abc"}, {"limit": "0"}, {"cursor": "forged"}):
        response = await client.get("/threads", params=params)
        assert response.status_code == 400, params
        assert "detail" in response.json()


async def test_health_reports_database_redis_and_unknown_sandbox(client: Client) -> None:
    body = (await client.get("/health")).json()
    assert body["status"] == "ok"
    assert (body["database"], body["redis"]) == ("ok", "ok")
    assert body["sandbox"]["status"] == "unknown"


async def test_health_says_a_worker_report_is_stale_and_when_one_was_last_heard(
    client: Client, redis_url: str, redis_namespace: str
) -> None:
    key = RedisKeys(redis_namespace).sandbox_status
    redis = Redis.from_url(redis_url)
    try:
        await redis.set(key, encode_report("healthy", "Claude Code is logged in (claude.ai) and ready."))
        fresh = (await client.get("/health")).json()["sandbox"]
        assert fresh["status"] == "healthy"
        assert fresh["checkedAt"] is not None

        # The last worker stopped a few probe periods ago: its last report no longer counts.
        last = time.time() - STALE_AFTER_S - 60
        await redis.set(key, encode_report("healthy", "Claude Code is logged in (claude.ai) and ready.", last))
        stale = (await client.get("/health")).json()["sandbox"]
        assert stale["status"] == "unavailable"
        assert re.match(
            r"No worker has reported for [23] min \(last at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)", stale["message"]
        )
        assert "start a worker" in stale["message"]
        assert stale["checkedAt"].startswith(time.strftime("%Y-%m-%dT%H:%M", time.gmtime(last)))
    finally:
        await redis.delete(key)
        await redis.aclose()


async def test_openapi_schema_lists_the_thread_routes(client: Client) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    assert {"/threads", "/threads/{thread_id}/messages", "/threads/{thread_id}", "/health"} <= set(schema["paths"])


async def test_cors_preflight_only_for_allowed_origins(client: Client) -> None:
    headers = {"Access-Control-Request-Method": "POST"}
    allowed = await client.options("/threads", headers={**headers, "Origin": "http://127.0.0.1:8000"})
    assert allowed.headers.get("access-control-allow-origin") == "http://127.0.0.1:8000"
    evil = await client.options("/threads", headers={**headers, "Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in evil.headers


@pytest.mark.parametrize("path", ["/", "/chat", "/chat/some-thread-id"])
async def test_the_page_is_served_as_html_under_a_strict_csp(client: Client, path: str) -> None:
    response = await client.get(path)
    if response.status_code == 404:  # the UI must be built (make install) for this test to mean anything
        pytest.fail(f"{path}: {response.json()['detail']}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "attachment" not in response.headers.get("content-disposition", "")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert '<div id="root"></div>' in response.text  # where the app mounts (services/web/index.html)


async def test_config_tells_the_page_where_the_gateway_is(client: Client) -> None:
    body = (await client.get("/config")).json()
    assert body["gatewayUrl"].endswith(":8001/chat")
    assert body["gatewayUrl"].startswith("ws://")
    assert body["authRequired"] is False

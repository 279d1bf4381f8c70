"""/me/agent-login and /health's `agentLogin` through Litestar's test client (AUTH_MODE=accounts), on SQLite
and PostgreSQL: write-only (set, clear, "is set"), each person's own, encrypted at rest, and a changed
SECRET_KEY is a sentence, never a 500."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
from sandchat import accounts
from sandchat.database import Database
from sandchat.settings import build_settings
from sandchat_api.app import create_app
from sqlalchemy import text

from tests.api_client import ApiClient, api_client

Client = ApiClient
KEY = "agent-login-test-key-0123456789abcdef"
SECRET = "sk-ant-oat01-alice-never-shown-0001"
Serve = Callable[..., AbstractAsyncContextManager[Client]]


@pytest.fixture
def serve(database_url: str, redis_url: str, redis_namespace: str) -> Serve:
    @asynccontextmanager
    async def serving(**overrides: Any) -> AsyncIterator[Client]:
        settings = build_settings(
            database_url=database_url,
            redis_url=redis_url,
            redis_namespace=redis_namespace,
            auth_mode="accounts",
            **{"secret_key": KEY, **overrides},
        )
        async with api_client(create_app(settings)) as client:
            yield client

    return serving


async def bearer(database: Database, name: str) -> dict[str, str]:
    """A person and a personal token of theirs, as the Authorization header."""
    async with database.transaction() as session:
        user = await accounts.create_user(session, name, "a long enough password 1")
        token = await accounts.create_token(session, user.id, "tests")
    return {"Authorization": f"Bearer {token.secret}"}


async def test_a_stored_login_is_never_answered_back_and_is_only_its_persons(
    serve: Serve, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    alice, bob = await bearer(database, "alice"), await bearer(database, "bob")
    answers: list[str] = []
    async with serve() as client:
        before = await client.get("/me/agent-login", headers=alice)
        stored = await client.put("/me/agent-login", headers=alice, json={"kind": "oauth_token", "secret": SECRET})
        again = await client.get("/me/agent-login", headers=alice)
        bobs = await client.get("/me/agent-login", headers=bob)
        health = await client.get("/health", headers=alice)
        anonymous = await client.get("/health")
        answers += [r.text for r in (before, stored, again, bobs, health, anonymous)]
        answers.append((await client.get("/schema/openapi.json")).text)
        cleared = await client.delete("/me/agent-login", headers=alice)

    assert before.json()["agentLogin"] | {"message": ""} == {
        "isSet": False, "kind": None, "updatedAt": None, "status": "none", "message": ""
    }  # fmt: skip
    assert stored.status_code == 200
    assert (stored.json()["agentLogin"]["isSet"], stored.json()["agentLogin"]["status"]) == (True, "own")
    assert again.json() == stored.json()
    assert bobs.json()["agentLogin"]["status"] == "none"  # Alice's login is Alice's
    assert health.json()["agentLogin"] == again.json()["agentLogin"]
    assert "agentLogin" not in anonymous.json()
    assert (cleared.json()["agentLogin"]["isSet"], cleared.json()["agentLogin"]["status"]) == (False, "none")
    for answer in answers:
        assert "alice-never-shown" not in answer
    assert "alice-never-shown" not in caplog.text
    async with database.reading() as session:
        assert (await session.execute(text("SELECT count(*) FROM agent_login"))).scalar() == 0


async def test_at_rest_the_login_is_encrypted_and_another_secret_key_is_a_sentence(
    serve: Serve, database: Database
) -> None:
    alice = await bearer(database, "alice")
    async with serve() as client:
        await client.put("/me/agent-login", headers=alice, json={"kind": "api_key", "secret": SECRET})
    async with database.reading() as session:
        row = (await session.execute(text("SELECT * FROM agent_login"))).one()
    assert "alice-never-shown" not in repr(row)

    async with serve(secret_key="a-different-key-after-a-rotation-0123") as client:
        changed = await client.get("/me/agent-login", headers=alice)
        health = await client.get("/health", headers=alice)
    assert changed.status_code == 200
    assert changed.json()["agentLogin"]["status"] == "unreadable"
    assert "SECRET_KEY" in changed.json()["agentLogin"]["message"]
    assert health.status_code == 200
    assert health.json()["agentLogin"]["status"] == "unreadable"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"kind": "password", "secret": "x"}, ""),
        ({"kind": "oauth_token", "secret": ""}, ""),
        ({"kind": "oauth_token", "secret": "two words"}, "one line without spaces"),
        ({"kind": "oauth_token", "secret": "x" * 5000}, ""),
        ({"kind": "oauth_token"}, ""),
        ({"kind": "oauth_token", "secret": "ok", "extra": 1}, ""),
    ],
    ids=["kind", "empty", "spaces", "too-long", "missing", "unknown-field"],
)
async def test_bad_input_gets_one_clear_sentence(serve: Serve, database: Database, body: object, detail: str) -> None:
    alice = await bearer(database, "alice")
    async with serve() as client:
        answer = await client.put("/me/agent-login", headers=alice, json=body)
    assert answer.status_code == 400
    assert detail in answer.json()["detail"]


async def test_without_a_secret_key_storing_is_refused_with_a_sentence(serve: Serve, database: Database) -> None:
    alice = await bearer(database, "alice")
    async with serve(secret_key=None) as client:
        answer = await client.put("/me/agent-login", headers=alice, json={"kind": "oauth_token", "secret": SECRET})
    assert answer.status_code == 409
    assert "SECRET_KEY" in answer.json()["detail"]


async def test_the_shared_login_is_what_a_person_without_one_gets_when_allowed(
    serve: Serve, database: Database
) -> None:
    alice = await bearer(database, "alice")
    async with serve(agent_shared_login=True) as client:
        answer = await client.get("/me/agent-login", headers=alice)
    assert answer.json()["agentLogin"]["status"] == "shared"


async def test_signed_out_nobody_reads_or_sets_a_login(serve: Serve) -> None:
    async with serve() as client:
        assert (await client.get("/me/agent-login")).status_code == 401
        assert (await client.put("/me/agent-login", json={"kind": "api_key", "secret": "x"})).status_code == 401

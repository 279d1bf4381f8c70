"""Several people on one stack (AUTH_MODE=accounts), on SQLite and PostgreSQL, through the real services.

Another person's thread answers exactly as a thread that does not exist — on every route of the
OpenAPI document and for every WebSocket request — and nothing of it changes; their turn cannot be
replayed. Signing in: wrong password, disabled user, rate limit, expiry, sign out, the cookie's
flags, cross-site requests; personal tokens, whose revocation closes the sockets opened with them.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import pytest
from sandchat.database import Database
from sandchat.models import UserSession, utcnow
from sqlalchemy import update
from websockets.exceptions import ConnectionClosed

from tests import backends
from tests.e2e.chat_client import ChatClient
from tests.e2e.conftest import stack_settings
from tests.security.people import PASSWORD, Person, admin, command, origin, sign_in, signed_in
from tests.stack import Stack, running_stack

# Starting a stack, signing three people in (argon2 on purpose) and a first turn: slow on a busy machine.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

# A body for the routes that need one to get past validation; the others are sent without.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("patch", "/threads/{thread_id}"): {"title": "taken over"},
    ("post", "/threads/{thread_id}/fork"): {"messageId": str(uuid.uuid4())},
}


@dataclass
class People:
    stack: Stack
    alice: Person
    bob: Person
    carol: Person
    # Alice's thread, with one finished turn, which nobody else may see or touch.
    thread_id: str
    turn_id: str


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def people(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[People]:
    tmp = tmp_path_factory.mktemp(f"people-{request.param}")
    with _database(request, tmp) as database_url:
        settings = stack_settings(
            tmp, redis_url, DATABASE_URL=database_url, AUTH_MODE="accounts", SIMULATOR_DELAY_MS="5"
        )
        with running_stack(workers=1, gateways=1, **settings) as stack:
            for name, flags in (("alice", ["--admin"]), ("bob", []), ("carol", [])):
                created = admin(stack, "create-user", name, *flags, stdin=PASSWORD + "\n")
                assert created.returncode == 0, created.stderr
            alice, bob, carol = (signed_in(stack, name) for name in ("alice", "bob", "carol"))
            thread_id = alice.new_thread("Alice's plans")
            turn_id = _run_turn(alice, thread_id, "the secret word is aardvark")
            yield People(stack, alice, bob, carol, thread_id, turn_id)
            for person in (alice, bob, carol):
                person.http.close()


def _database(request: pytest.FixtureRequest, tmp: Path) -> AbstractContextManager[str]:
    if request.param == "sqlite":
        return nullcontext(f"sqlite+aiosqlite:///{tmp / 'sandchat.db'}")
    return backends.fresh_postgres_database(request.getfixturevalue("postgres_admin_url"))


def _run_turn(person: Person, thread_id: str, content: str) -> str:
    async def turn() -> str:
        client = await person.socket()
        try:
            started, record = await client.turn(thread_id, content)
            assert started["type"] == "started", started
            assert record.final["type"] == "done", record.final
            return str(started["turnId"])
        finally:
            await client.close()

    return asyncio.run(turn())


def _openapi_thread_routes(stack: Stack) -> list[tuple[str, str]]:
    schema = httpx.get(f"{stack.api_url}/schema/openapi.json", timeout=10).json()
    routes = [
        (method, path)
        for path, operations in schema["paths"].items()
        if "{thread_id}" in path
        for method in operations
        if method in ("get", "post", "patch", "delete", "put")
    ]
    assert len(routes) >= 6, routes  # messages, export, get, patch, delete, queued-message removal
    return routes


def _ask(person: Person, method: str, path: str, thread_id: str) -> httpx.Response:
    url = path.replace("{thread_id}", thread_id).replace("{message_id}", str(uuid.uuid4()))
    body = BODIES.get((method, path))
    return person.http.request(method.upper(), url, json=body)


def _snapshot(people: People) -> tuple[Any, list[dict[str, object]]]:
    response = people.alice.http.get(f"/threads/{people.thread_id}")
    assert response.status_code == 200, response.text
    thread = response.json()["thread"]
    return (thread["title"], thread["permissionMode"]), people.alice.messages(people.thread_id)


def test_every_route_answers_another_persons_thread_as_one_that_does_not_exist(people: People) -> None:
    before = _snapshot(people)
    unknown = str(uuid.uuid4())
    for method, path in _openapi_thread_routes(people.stack):
        for stranger in (people.bob, people.carol):
            theirs = _ask(stranger, method, path, people.thread_id)
            nobodys = _ask(stranger, method, path, unknown)
            assert theirs.status_code == nobodys.status_code == 404, (method, path, theirs.text)
            assert theirs.json() == nobodys.json(), (method, path)
    assert _snapshot(people) == before
    assert people.thread_id in [t["id"] for t in people.alice.http.get("/threads").json()["threads"]]


def test_lists_and_search_hold_only_ones_own_threads(people: People) -> None:
    bobs = people.bob.new_thread("Bob's aardvark notes")
    for person, own, other in ((people.alice, people.thread_id, bobs), (people.bob, bobs, people.thread_id)):
        listed = [thread["id"] for thread in person.http.get("/threads").json()["threads"]]
        assert own in listed
        assert other not in listed
        found = {hit["threadId"] for hit in person.http.get("/search", params={"q": "aardvark"}).json()["results"]}
        assert found == {own}
    assert people.carol.http.get("/search", params={"q": "aardvark"}).json()["results"] == []
    assert people.carol.http.get("/threads").json()["threads"] == []


async def _answer(client: ChatClient, request: dict[str, Any]) -> dict[str, Any]:
    await client.send(request)
    return await client.receive()


async def test_every_websocket_request_on_another_persons_thread_answers_not_found(people: People) -> None:
    before = _snapshot(people)
    bob = await people.bob.socket()
    try:
        requests: list[dict[str, Any]] = [
            {"type": "message", "content": "mine now"},
            {"type": "resume", "afterSeq": 0},
            {"type": "approve", "requestId": "r-1", "decision": "allow"},
            {"type": "watch"},
        ]
        for request in requests:
            theirs = await _answer(bob, {**request, "threadId": people.thread_id})
            nobodys = await _answer(bob, {**request, "threadId": str(uuid.uuid4())})
            assert theirs["type"] == "error", (request, theirs)
            assert theirs["code"] == nobodys["code"] == "thread_not_found", (request, theirs)
            assert theirs["message"] == nobodys["message"]
        # Bob's own thread still works on the same socket.
        own = people.bob.new_thread()
        started, record = await bob.turn(own, "hello")
        assert started["type"] == "started"
        assert record.final["type"] == "done"
    finally:
        await bob.close()
    assert _snapshot(people) == before


async def test_a_cancel_of_another_persons_running_turn_is_answered_as_for_no_thread_and_stops_nothing(
    people: People,
) -> None:
    alice, bob = await people.alice.socket(), await people.bob.socket()
    try:
        started = await alice.message(people.thread_id, "a reply Bob cannot stop")
        assert started["type"] == "started", started
        for thread_id in (people.thread_id, str(uuid.uuid4())):
            await bob.send({"type": "cancel", "threadId": thread_id})
        # Neither cancel is answered: the next frame Bob gets answers his next request.
        marker = str(uuid.uuid4())
        answer = await _answer(bob, {"type": "watch", "threadId": marker})
        assert (answer["type"], answer["threadId"]) == ("error", marker)
        record = await alice.until_final()
        assert record.final["type"] == "done", record.final
    finally:
        await alice.close()
        await bob.close()


async def test_a_replay_of_another_persons_turn_gets_nothing(people: People) -> None:
    carol = await people.carol.socket()
    try:
        answer = await _answer(carol, {"type": "resume", "threadId": people.thread_id, "afterSeq": 0})
        assert answer["type"] == "error"
        assert answer["code"] == "thread_not_found"
        assert "aardvark" not in str(answer)
        # Nothing else follows: the next answer is to Carol's own next request.
        own = people.carol.new_thread()
        await carol.send({"type": "watch", "threadId": own})
        assert (await carol.receive())["type"] == "watching"
    finally:
        await carol.close()
    # Alice herself can replay it.
    alice = await people.alice.socket()
    try:
        await alice.send({"type": "resume", "threadId": people.thread_id, "afterSeq": 0})
        record = await alice.until_final()
        # Her latest turn in the thread (an earlier test may have run one after the fixture's).
        assert record.final["type"] == "done"
        assert record.final["threadId"] == people.thread_id
        assert record.tokens
    finally:
        await alice.close()


def test_an_admin_lists_people_but_cannot_read_their_threads(people: People) -> None:
    listed = admin(people.stack, "list-users")
    assert listed.returncode == 0, listed.stderr
    names = [line.split("\t")[0] for line in listed.stdout.splitlines()]
    assert {"alice", "bob", "carol"} <= set(names)
    bobs = people.bob.new_thread("Bob's diary")
    assert people.alice.http.get(f"/threads/{bobs}").status_code == 404
    assert people.alice.http.get(f"/threads/{bobs}/messages").status_code == 404
    me = people.alice.http.get("/me").json()
    assert me == {"id": me["id"], "username": "alice", "isAdmin": True, "authMode": "accounts"}


def test_a_wrong_password_or_unknown_name_is_refused_alike(people: People) -> None:
    wrong = sign_in(people.stack, "bob", "not his password")
    nobody = sign_in(people.stack, "nobody-at-all", "not his password")
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json() == nobody.json() == {"detail": "Wrong user name or password."}
    assert "sandchat_session" not in wrong.cookies


def test_the_session_cookie_is_httponly_samesite_lax_and_not_secure_over_http(people: People) -> None:
    response = sign_in(people.stack, "carol")
    assert response.status_code == 204
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("sandchat_session=")
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite", "path", "max-age"} <= flags
    assert "samesite=lax" in cookie.lower()
    assert "secure" not in flags


def test_a_cookie_request_that_changes_something_needs_an_allowed_origin(people: People) -> None:
    cookie = {"sandchat_session": people.bob.http.cookies["sandchat_session"]}
    with httpx.Client(base_url=people.stack.api_url, cookies=cookie, timeout=10) as bare:
        assert bare.get("/threads").status_code == 200  # reading needs no Origin
        assert bare.post("/threads", json={}).status_code == 403
        foreign = bare.post("/threads", json={}, headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403
        assert bare.post("/threads", json={}, headers={"Origin": origin(people.stack)}).status_code == 201


async def test_signing_out_ends_the_session_and_closes_its_sockets(people: People) -> None:
    dave = _new_person(people.stack, "dave")
    assert dave.http.get("/me").status_code == 200
    cookie = dave.http.cookies["sandchat_session"]
    socket = await dave.socket()
    response = dave.http.post("/auth/logout")
    assert response.status_code == 204
    gone = SimpleCookie(response.headers["set-cookie"])["sandchat_session"]
    assert (gone.value, gone["max-age"]) == ("", "0"), "emptied, and dropped by the browser at once"
    with pytest.raises(ConnectionClosed) as closed:
        await socket.receive(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    with httpx.Client(base_url=people.stack.api_url, cookies={"sandchat_session": cookie}, timeout=10) as old:
        assert old.get("/me").status_code == 401
        assert old.get("/threads").status_code == 401


def test_an_expired_session_is_refused(people: People) -> None:
    erin = _new_person(people.stack, "erin")
    me = erin.http.get("/me")
    assert me.status_code == 200

    async def expire() -> None:
        database = Database(people.stack.env["DATABASE_URL"])
        try:
            async with database.transaction() as session:
                past = utcnow() - timedelta(seconds=1)
                await session.execute(
                    update(UserSession).where(UserSession.user_id == me.json()["id"]).values(expires_at=past)
                )
        finally:
            await database.close()

    asyncio.run(expire())
    response = erin.http.get("/me")
    assert response.status_code == 401
    assert response.json()["detail"].startswith("Sign in first")


async def test_a_disabled_person_can_no_longer_sign_in_nor_use_an_open_socket(people: People) -> None:
    frank = _new_person(people.stack, "frank")
    socket = await frank.socket()
    disabled = admin(people.stack, "disable-user", "frank")
    assert disabled.returncode == 0, disabled.stderr
    with pytest.raises(ConnectionClosed) as closed:
        await socket.receive(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    assert frank.http.get("/me").status_code == 401
    again = sign_in(people.stack, "frank")
    assert again.status_code == 403
    assert again.json() == {"detail": "This account is disabled."}


def test_failed_sign_ins_are_limited_per_account(people: People) -> None:
    _new_person(people.stack, "gina")
    answers = [sign_in(people.stack, "gina", "wrong password").status_code for _ in range(11)]
    assert answers == [401] * 10 + [429]
    limited = sign_in(people.stack, "gina")  # even the right password, until the window passes
    assert limited.status_code == 429
    assert limited.json()["detail"].startswith("Too many failed sign-ins")
    assert sign_in(people.stack, "bob").status_code == 204  # others are not locked out


async def test_a_personal_token_works_until_revoked_and_revoking_closes_its_sockets(people: People) -> None:
    created = people.bob.http.post("/tokens", json={"name": "laptop"})
    assert created.status_code == 201, created.text
    secret, token = created.json()["secret"], created.json()["token"]
    assert secret.startswith("sct_")
    assert token["hint"] == secret[-4:]
    listed = people.bob.http.get("/tokens").json()["tokens"]
    assert [t["id"] for t in listed] == [token["id"]]
    assert secret not in str(listed)
    assert people.alice.http.get("/tokens").json()["tokens"] == []
    bearer = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(f"{people.stack.api_url}/me", headers=bearer).json()["username"] == "bob"
    socket = await ChatClient.open(people.stack.gateway_url(), additional_headers=bearer)
    try:
        own = people.bob.new_thread()
        await socket.send({"type": "watch", "threadId": own})
        assert (await socket.receive())["type"] == "watching"
        # Alice cannot revoke Bob's token: it is as unknown to her as any other id.
        assert people.alice.http.delete(f"/tokens/{token['id']}").status_code == 404
        assert people.bob.http.delete(f"/tokens/{token['id']}").status_code == 204
        with pytest.raises(ConnectionClosed) as closed:
            await socket.receive(timeout=10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008
    finally:
        await socket.close()
    assert httpx.get(f"{people.stack.api_url}/me", headers=bearer).status_code == 401
    assert people.bob.http.get("/tokens").json()["tokens"] == []


def _new_person(stack: Stack, name: str) -> Person:
    created = admin(stack, "create-user", name, stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    return signed_in(stack, name)


def _sandchat(
    stack: Stack, *arguments: str, token: str | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {"SANDCHAT_TOKEN": token} if token else None
    return command(stack, "sandchat", "--api", stack.api_url, *arguments, stdin=stdin, env=env, timeout=120)


def test_the_terminal_client_signs_in_with_a_personal_token(people: People) -> None:
    stack = people.stack
    created = _sandchat(stack, "token", "create", "terminal", "--user", "carol", stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("sct_")
    chatted = _sandchat(stack, "chat", "hello from the terminal", token=secret)
    assert chatted.returncode == 0, chatted.stderr
    assert "You said: hello from the terminal" in chatted.stdout
    listed = _sandchat(stack, "threads", token=secret)
    assert listed.returncode == 0, listed.stderr
    assert people.thread_id not in listed.stdout  # Alice's thread is not Carol's
    assert "hello from the terminal" in listed.stdout
    token_id = _sandchat(stack, "token", "list", token=secret).stdout.split()[0]
    assert _sandchat(stack, "token", "revoke", token_id, token=secret).returncode == 0
    refused = _sandchat(stack, "threads", token=secret)
    assert refused.returncode == 2
    assert "401" in refused.stderr

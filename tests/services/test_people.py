"""Two people on one stack (a worker and the turn package in this process, real Redis and databases):
each person's agent works in their own directories with their own stored login, and USER_MAX_TURNS
lets a fourth turn of one person wait (saying so) without holding up anyone else.

Turns are started as the gateway starts them (sandchat.turns.beginning.submit, following the turn
before it is dispatched); the sign-in in front of that is the gateway's own, tested with it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sandchat import threads, wire
from sandchat.agent_logins import LoginBox, store_login
from sandchat.agent_users import AgentLogin
from sandchat.database import Database
from sandchat.models import User
from sandchat.turns.beginning import MessageQueued, TurnBegun, submit
from sandchat.turns.event_log import unstamped
from sandchat.turns.fair_share import waiting_message
from sandchat.turns.outcomes import PERSON_NOT_LOGGED_IN_MESSAGE

from tests.services.conftest import Services

SECRET_KEY = "people-test-secret-key-0123456789abcdef"
TIMEOUT_S = 30.0


@pytest.fixture
def service_settings(tmp_path: Path) -> dict[str, object]:
    return {"secret_key": SECRET_KEY, "local_workspace": tmp_path / "workspace", "user_max_turns": 3}


class FollowedTurn:
    """A turn followed from its start, as the gateway follows one for its sender."""

    def __init__(self) -> None:
        self.frames: list[wire.ServerEvent] = []
        self.arrived = asyncio.Event()
        self.info: Any = None

    async def until(self, predicate: Callable[[list[wire.ServerEvent]], bool]) -> list[wire.ServerEvent]:
        async with asyncio.timeout(TIMEOUT_S):
            while not predicate(self.frames):
                self.arrived.clear()
                await self.arrived.wait()
        return self.frames

    async def final(self) -> wire.ServerEvent:
        frames = await self.until(lambda got: any(isinstance(f, wire.Done | wire.Error) for f in got))
        return next(f for f in frames if isinstance(f, wire.Done | wire.Error))

    @property
    def text(self) -> str:
        return "".join(f.text for f in self.frames if isinstance(f, wire.Token))


class People:
    """Sends messages in people's threads and follows their turns over Redis pub/sub."""

    def __init__(self, services: Services, database: Database, redis_url: str) -> None:
        self.services, self.database = services, database
        self.pubsub = Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
        self.followed: dict[str, FollowedTurn] = {}
        self.reader: asyncio.Task[None] | None = None

    async def person(self, name: str, login: AgentLogin | None = None) -> str:
        async with self.database.transaction() as session:
            user = User(username=name)
            session.add(user)
            await session.flush()
            if login is not None:
                await store_login(session, LoginBox(SECRET_KEY), user.id, login)
            return user.id

    async def thread(self, owner_id: str) -> str:
        async with self.database.transaction() as session:
            return (await threads.create_thread(session, None, owner_id=owner_id)).id

    async def send(self, owner_id: str, content: str) -> FollowedTurn:
        turn = FollowedTurn()
        keys = self.services.turns.keys

        async def follow(accepted: TurnBegun | MessageQueued) -> None:
            assert isinstance(accepted, TurnBegun)
            turn.info = accepted.info
            self.followed[keys.turn_channel(accepted.info.turn_id)] = turn
            await self.pubsub.subscribe(keys.turn_channel(accepted.info.turn_id))
            if self.reader is None:
                self.reader = asyncio.create_task(self._read())

        begun = await submit(self.services.turns, await self.thread(owner_id), content, follow)
        assert isinstance(begun, TurnBegun), begun
        return turn

    async def stop(self, turn: FollowedTurn) -> None:
        await self.services.turns.store.request_cancel(turn.info.turn_id)

    async def _read(self) -> None:
        while True:
            message = await self.pubsub.get_message(timeout=1.0)
            if message is None or message["type"] != "message":
                continue
            turn = self.followed[message["channel"].decode()]
            turn.frames.append(wire.decode_event(unstamped(message["data"])[1]))
            turn.arrived.set()

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            await asyncio.gather(self.reader, return_exceptions=True)
        await self.pubsub.aclose()


@pytest.fixture
async def people(services: Services, database: Database, redis_url: str) -> AsyncIterator[People]:
    followers = People(services, database, redis_url)
    yield followers
    await followers.close()


def report(text: str) -> tuple[str, dict[str, str]]:
    """The simulator's [[env]] reply: the agent's working directory and environment, as it sees them."""
    cwd = re.search(r"^cwd: (.*)$", text, re.MULTILINE)
    assert cwd is not None, text
    return cwd.group(1), dict(line.split("=", 1) for line in text.split("env:\n", 1)[1].splitlines() if "=" in line)


async def test_each_persons_agent_runs_in_their_directories_with_their_own_login(
    people: People, tmp_path: Path
) -> None:
    alice = await people.person("alice", AgentLogin("oauth_token", "sk-ant-oat01-alice-0001"))
    bob = await people.person("bob", AgentLogin("api_key", "sk-ant-api03-bob-0002"))

    alices, bobs = await people.send(alice, "[[env]]"), await people.send(bob, "[[env]]")
    assert isinstance(await alices.final(), wire.Done)
    assert isinstance(await bobs.final(), wire.Done)

    for user_id, turn, variable, secret, other in (
        (alice, alices, "CLAUDE_CODE_OAUTH_TOKEN", "sk-ant-oat01-alice-0001", "sk-ant-api03-bob-0002"),
        (bob, bobs, "ANTHROPIC_API_KEY", "sk-ant-api03-bob-0002", "sk-ant-oat01-alice-0001"),
    ):
        cwd, env = report(turn.text)
        home = tmp_path / "workspace" / "users" / user_id
        assert cwd == str(home / "work")
        assert env["CLAUDE_CONFIG_DIR"] == str(home / "claude")
        assert env[variable] == secret
        assert other not in turn.text
        assert SECRET_KEY not in turn.text


async def test_a_stored_login_is_in_no_log_line_and_no_event(
    people: People, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # SQL statements and their parameters included
    alice = await people.person("alice", AgentLogin("oauth_token", "sk-ant-oat01-alice-0001"))

    turn = await people.send(alice, "hello")
    assert isinstance(await turn.final(), wire.Done)

    logged = caplog.text + repr([record.__dict__ for record in caplog.records])
    assert "alice-0001" not in logged
    assert SECRET_KEY not in logged
    assert "alice-0001" not in repr(turn.frames)
    async with database.reading() as session:
        stored = await threads.list_messages(session, turn.info.thread_id)
    assert "alice-0001" not in repr([(m.content, m.meta, m.error) for m in stored])


async def test_a_person_without_a_login_is_told_where_to_store_it_and_no_agent_starts(
    people: People, tmp_path: Path
) -> None:
    carol = await people.person("carol")

    final = await (await people.send(carol, "[[env]]")).final()

    assert isinstance(final, wire.Error)
    assert (final.code, final.message) == ("agent_error", PERSON_NOT_LOGGED_IN_MESSAGE)
    assert not (tmp_path / "workspace" / "users" / carol).exists()


async def test_a_fourth_turn_waits_saying_so_starts_when_one_ends_and_holds_up_nobody_else(
    people: People,
) -> None:
    alice = await people.person("alice", AgentLogin("oauth_token", "sk-alice"))
    bob = await people.person("bob", AgentLogin("oauth_token", "sk-bob"))
    running = [await people.send(alice, f"[[hang]] task {n}") for n in range(3)]
    for turn in running:  # all three are streaming
        await turn.until(lambda frames: any(isinstance(f, wire.Token) for f in frames))

    fourth = await people.send(alice, "[[hang]] task 3")
    waiting = await fourth.until(lambda frames: len(frames) >= 1)
    assert waiting == [wire.Status(fourth.info.thread_id, fourth.info.turn_id, 1, waiting_message(3, 1))]

    bobs = await people.send(bob, "quick question")  # another person's turn is not held up
    assert isinstance(await bobs.final(), wire.Done)
    assert fourth.frames == waiting  # still waiting: Alice's three still run

    await people.stop(running[1])
    assert isinstance(await running[1].final(), wire.Error)
    await fourth.until(lambda frames: any(isinstance(f, wire.Token) for f in frames))
    assert fourth.text.startswith("You said: [[hang]] task 3")

    for turn in (running[0], running[2], fourth):
        await people.stop(turn)
        final = await turn.final()
        assert isinstance(final, wire.Error)
        assert final.code == "cancelled"

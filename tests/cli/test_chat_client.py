"""`sandchat chat` against an in-process gateway that speaks the protocol: the reply, the queue, approvals."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Iterator
from typing import Any

import pytest
from sandchat import wire
from sandchat_cli import conversation
from sandchat_cli.terminal import Terminal

from tests.cli.scripted_gateway import ScriptedClient, scripted_gateway

T = "thread-1"


def token(seq: int, text: str, turn: str = "turn-1") -> wire.Token:
    return wire.Token(T, turn, seq, text)


def done(seq: int, turn: str = "turn-1", reply: str = "a1") -> wire.Done:
    return wire.Done(T, turn, seq, reply, "session-1", None)


def approval(seq: int, request_id: str, tool: str = "Bash", tool_input: Any = None) -> wire.Approval:
    return wire.Approval(T, "turn-1", seq, request_id, tool, tool_input or {"command": "npm test"}, [])


async def chat(url: str, typed: str = "", content: str = "hello") -> int:
    return await conversation.chat(url, T, content, headers={}, terminal=Terminal(io.StringIO(typed)))


async def answers_approvals(client: ScriptedClient, *request_ids: str) -> None:
    """Wait for an approve per request (in order), confirm each as the gateway does, then end the turn."""
    seq = 10
    for request_id in request_ids:
        answer = await client.receive()
        assert isinstance(answer, wire.Approve)
        assert answer.request_id == request_id
        seq += 1
        await client.send(wire.ApprovalAnswered(T, "turn-1", seq, request_id, answer.decision))
    await client.send(token(seq + 1, "ran it"), done(seq + 2))


async def answered_from_the_terminal(typed: str, *requests: wire.Approval) -> tuple[int, list[wire.ClientRequest]]:
    """A turn that asks `requests` one after the other, with `typed` typed at the terminal: the exit
    status and what the client sent after its message."""

    async def script(client: ScriptedClient) -> None:
        await client.receive()
        await client.send(wire.Started(T, "turn-1", "u1", "a1"), *requests)
        await answers_approvals(client, *(request.request_id for request in requests))

    async with scripted_gateway(script) as (url, clients):
        status = await chat(url, typed)
    return status, clients[0].received[1:]


async def test_the_reply_streams_to_stdout_after_a_message_frame_of_the_wire_protocol(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def script(client: ScriptedClient) -> None:
        await client.receive()
        await client.send(wire.Started(T, "turn-1", "u1", "a1"), token(1, "Hel"), token(2, "lo"), done(3))

    async with scripted_gateway(script) as (url, clients):
        status = await chat(url)
    assert (status, clients[0].received) == (0, [wire.SendMessage(T, "hello")])
    assert capsys.readouterr().out.startswith("Hello\n")


async def test_a_refused_message_says_why_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    async def script(client: ScriptedClient) -> None:
        await client.receive()
        await client.send(wire.Error(T, "too_large", "The message is longer than 100,000 characters."))

    async with scripted_gateway(script) as (url, _clients):
        status = await chat(url)
    assert status == 1
    assert "error (too_large): The message is longer than 100,000 characters." in capsys.readouterr().err


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("y\n", wire.Approve(T, "r1", "allow")),
        ("a\n", wire.Approve(T, "r1", "allow_always")),
        ("n\nnot on main\n", wire.Approve(T, "r1", "deny", "not on main")),
        ("n\n\n", wire.Approve(T, "r1", "deny")),
        ("maybe\ny\n", wire.Approve(T, "r1", "allow")),
    ],
    ids=["y-allows-once", "a-allows-always", "n-denies-with-a-reason", "n-denies-without-one", "asks-again"],
)
async def test_an_approval_request_is_answered_from_the_terminal(typed: str, expected: wire.Approve) -> None:
    assert await answered_from_the_terminal(typed, approval(1, "r1")) == (0, [expected])


async def test_a_bash_request_shows_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    await answered_from_the_terminal("y\n", approval(1, "r1", "Bash", {"command": "rm -rf build"}))
    assert "  $ rm -rf build\n" in capsys.readouterr().err


async def test_an_edit_request_shows_a_diff(capsys: pytest.CaptureFixture[str]) -> None:
    edit = {"file_path": "/w/app.py", "old_string": "x = 1\ny = 2", "new_string": "x = 1\ny = 3"}
    await answered_from_the_terminal("y\n", approval(1, "r1", "Edit", edit))
    err = capsys.readouterr().err
    assert "  -y = 2\n  +y = 3\n" in err


async def test_ask_user_question_is_answered_by_option_number_or_free_text() -> None:
    questions = {
        "questions": [
            {"question": "Which database?", "options": [{"label": "PostgreSQL"}, {"label": "SQLite"}]},
            {"question": "Which port?", "options": [{"label": "5432"}]},
        ]
    }
    _, sent = await answered_from_the_terminal("2\n6543\n", approval(1, "r1", "AskUserQuestion", questions))
    answer = wire.Approve(T, "r1", "allow", answers={"Which database?": "SQLite", "Which port?": "6543"})
    assert sent == [answer]


async def test_several_requests_are_asked_one_after_the_other() -> None:
    _, sent = await answered_from_the_terminal("y\nn\n\n", approval(1, "r1"), approval(2, "r2"))
    assert sent == [wire.Approve(T, "r1", "allow"), wire.Approve(T, "r2", "deny")]


@pytest.fixture
def terminal(request: pytest.FixtureRequest) -> Iterator[Terminal]:
    """A terminal where nobody types yet ("away": reading waits, as it does for a person who is away),
    or none at all ("none": its input is at its end already)."""
    if request.param == "none":
        yield Terminal(io.StringIO(""))
        return
    read_end, write_end = os.pipe()
    with os.fdopen(read_end) as lines:
        yield Terminal(lines)
        os.close(write_end)  # the reader thread sees the end of input and stops


@pytest.mark.parametrize(
    ("terminal", "decision", "shown"),
    [("away", "deny", "denied"), ("none", "allow", "allowed once")],
    indirect=["terminal"],
)
async def test_a_request_answered_elsewhere_is_waited_for_shown_and_not_answered_again(
    capsys: pytest.CaptureFixture[str], terminal: Terminal, decision: wire.Resolution, shown: str
) -> None:
    async def script(client: ScriptedClient) -> None:
        await client.receive()
        await client.send(wire.Started(T, "turn-1", "u1", "a1"), approval(1, "r1"))
        await client.send(wire.ApprovalAnswered(T, "turn-1", 2, "r1", decision), done(3))

    async with scripted_gateway(script) as (url, clients):
        status = await conversation.chat(url, T, "hello", headers={}, terminal=terminal)
    assert (status, clients[0].received) == (0, [wire.SendMessage(T, "hello")])
    assert f"[approval: {shown} (answered elsewhere)]" in capsys.readouterr().err


async def test_a_queued_message_shows_its_place_and_follows_only_its_own_turn(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def script(client: ScriptedClient) -> None:
        await client.receive()
        await client.send(
            wire.Queued(T, "u2", 2),
            wire.Started(T, "turn-0", "u0", "a0"),
            token(1, "not mine", turn="turn-0"),
            done(2, turn="turn-0", reply="a0"),
            wire.Started(T, "turn-2", "u2", "a2"),
            token(1, "mine", turn="turn-2"),
            done(2, turn="turn-2", reply="a2"),
        )

    async with scripted_gateway(script) as (url, _clients):
        status = await chat(url)
    out, err = capsys.readouterr()
    assert (status, out.split("\n")[0]) == (0, "mine")
    assert "[queued behind the running reply: 1 ahead of it]" in err


async def test_a_frame_of_a_newer_protocol_is_skipped() -> None:
    async def script(client: ScriptedClient) -> None:
        await client.receive()
        await client.websocket.send('{"type":"something_new","threadId":"thread-1"}')
        await client.send(wire.Started(T, "turn-1", "u1", "a1"), done(1))

    async with scripted_gateway(script) as (url, _clients):
        assert await chat(url) == 0


async def test_the_footer_names_the_thread_to_continue(capsys: pytest.CaptureFixture[str]) -> None:
    async def script(client: ScriptedClient) -> None:
        await client.receive()
        await client.send(wire.Started(T, "turn-1", "u1", "a1"), token(1, "Hi"), done(2))

    async with scripted_gateway(script) as (url, _clients):
        await chat(url)
    assert f"[done · thread {T}]" in capsys.readouterr().out


async def test_retry_runs_the_last_message_again_and_streams_the_new_reply(capsys: pytest.CaptureFixture[str]) -> None:
    async def script(client: ScriptedClient) -> None:
        await client.receive()
        await client.send(wire.Started(T, "turn-2", "u1", "a2"), token(1, "Again", "turn-2"), done(2, "turn-2", "a2"))

    async with scripted_gateway(script) as (url, clients):
        status = await conversation.chat(url, T, None, headers={}, terminal=Terminal(io.StringIO("")))
    assert (status, clients[0].received) == (0, [wire.Retry(T)])
    assert capsys.readouterr().out.startswith("Again\n")


async def test_retry_with_nothing_to_retry_says_why_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    refusal = "Nothing to retry: the last reply in this thread did not end in an error or a stop."

    async def script(client: ScriptedClient) -> None:
        await client.receive()
        await client.send(wire.Error(T, "invalid_message", refusal))

    async with scripted_gateway(script) as (url, _clients):
        assert await conversation.chat(url, T, None, headers={}, terminal=Terminal(io.StringIO(""))) == 1
    assert f"error (invalid_message): {refusal}" in capsys.readouterr().err


async def test_stop_sends_a_cancel_and_reports_the_end_of_the_reply(capsys: pytest.CaptureFixture[str]) -> None:
    async def script(client: ScriptedClient) -> None:
        await client.receive()
        await client.send(wire.Error(T, "cancelled", "Stopped.", turn_id="turn-1", seq=4))

    async with scripted_gateway(script) as (url, clients):
        assert await conversation.stop(url, T, headers={}) == 0
    assert clients[0].received == [wire.Cancel(T)]
    assert "stopped the reply" in capsys.readouterr().out


async def test_stop_with_nothing_running_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    async def script(client: ScriptedClient) -> None:
        await client.receive()

    async with scripted_gateway(script) as (url, _clients):
        assert await conversation.stop(url, T, headers={}, wait_s=0.2) == 0
    assert "no reply was running" in capsys.readouterr().out


async def test_interrupting_the_chat_stops_the_reply_it_started(capsys: pytest.CaptureFixture[str]) -> None:
    cancelled = asyncio.Event()

    async def script(client: ScriptedClient) -> None:
        await client.receive()
        await client.send(wire.Started(T, "turn-1", "u1", "a1"), token(1, "Hel"))
        if isinstance(await client.receive(), wire.Cancel):
            cancelled.set()

    async with scripted_gateway(script) as (url, _clients):
        running = asyncio.create_task(chat(url))
        shown = ""
        async with asyncio.timeout(5):
            while "Hel" not in shown:  # the client has the turn (its first token is on stdout)
                await asyncio.sleep(0.01)
                shown += capsys.readouterr().out
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        await asyncio.wait_for(cancelled.wait(), 5)

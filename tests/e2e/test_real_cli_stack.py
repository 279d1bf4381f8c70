"""The real Claude Code CLI (the pinned one) through the whole stack: api, gateways and a worker as
separate processes, Redis, and the CLI as the worker's `local` agent talking to the tests' fake
Messages API (tests/worker/fake_messages_api.py). Text, a tool, a second message on the same session,
and a reply resumed on another gateway."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sandchat_dev.stack import PINNED_CLI

from tests.e2e.chat_client import ChatClient, messages, new_thread, one_turn, turns
from tests.e2e.conftest import stack_settings
from tests.stack import Stack, running_stack
from tests.worker.fake_messages_api import (
    SLOW_DELTA,
    SLOW_DELTAS,
    TEXT_REPLY,
    TOOL_COMMAND,
    FakeMessagesApi,
    cli_environment,
    serve_fake_messages_api,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def real_cli_stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[tuple[Stack, FakeMessagesApi]]:
    if not PINNED_CLI.exists():
        pytest.fail(f"The Claude Code CLI is not installed at {PINNED_CLI}: run `make install`.", pytrace=False)
    tmp = tmp_path_factory.mktemp("real-cli-stack")
    home = tmp / "home"
    home.mkdir()
    with serve_fake_messages_api() as api:
        settings = stack_settings(
            tmp,
            redis_url,
            AGENT_RUNNER="local",
            CLAUDE_BIN=str(PINNED_CLI),
            AGENT_ENV_PASSTHROUGH="",
            AGENT_INACTIVITY_TIMEOUT_S="30",
            # The CLI's own variables reach it (sandchat.agent_env); a throwaway home keeps its sessions.
            **cli_environment(api, home),
        )
        with running_stack(workers=1, gateways=2, **settings) as stack:
            yield stack, api


async def test_a_text_reply_and_the_next_message_on_the_same_session(
    real_cli_stack: tuple[Stack, FakeMessagesApi],
) -> None:
    stack, api = real_cli_stack
    thread_id = new_thread(stack.api_url)
    first, second = await turns(stack.gateway_url(0), thread_id, "remember the number 7", "which number?")
    assert first.final["type"] == "done", first.final
    assert first.text == TEXT_REPLY
    assert second.final["type"] == "done", second.final
    assert second.final["sessionId"] == first.final["sessionId"]
    stored = messages(stack.api_url, thread_id)
    assert [(m["role"], m["status"]) for m in stored] == [
        ("user", "complete"),
        ("assistant", "complete"),
        ("user", "complete"),
        ("assistant", "complete"),
    ]
    assert stored[1]["content"] == first.text
    assert stored[3]["content"] == second.text
    assert {"remember the number 7", "which number?"} <= set(api.user_texts())


async def test_a_tool_the_cli_runs_is_relayed_and_stored(real_cli_stack: tuple[Stack, FakeMessagesApi]) -> None:
    stack, _ = real_cli_stack
    thread_id = new_thread(stack.api_url)
    _, record = await one_turn(stack.gateway_url(1), thread_id, "[[tool]] say hi")
    assert record.final["type"] == "done", record.final
    tool = next(event for event in record.events if event["type"] == "tool")
    result = next(event for event in record.events if event["type"] == "tool_result")
    assert (tool["name"], tool["input"]["command"]) == ("Bash", TOOL_COMMAND)
    assert (result["toolUseId"], result["output"], result["isError"]) == (tool["toolUseId"], "hi", False)
    stored = messages(stack.api_url, thread_id)[-1]
    assert stored["content"] == record.text
    assert [(t["name"], t["output"]) for t in stored["meta"]["tools"]] == [("Bash", "hi")]


async def test_a_reply_left_mid_stream_is_resumed_on_the_other_gateway_exactly_once(
    real_cli_stack: tuple[Stack, FakeMessagesApi],
) -> None:
    stack, _ = real_cli_stack
    thread_id = new_thread(stack.api_url)
    first = await ChatClient.open(stack.gateway_url(0))
    try:
        assert (await first.message(thread_id, "[[slow]] a long one"))["type"] == "started"
        before = await first.until_tokens(5)
    finally:
        await first.close()  # the tab goes away mid-reply
    second = await ChatClient.open(stack.gateway_url(1))
    try:
        await second.send({"type": "resume", "threadId": thread_id, "afterSeq": before.seqs[-1]})
        after = await second.until_final(timeout=60)
    finally:
        await second.close()
    seqs = before.seqs + after.seqs
    assert seqs == list(range(1, len(seqs) + 1)), "every seq exactly once"
    assert after.final["type"] == "done", after.final
    assert before.text + after.text == SLOW_DELTA * SLOW_DELTAS
    assert messages(stack.api_url, thread_id)[-1]["content"] == before.text + after.text

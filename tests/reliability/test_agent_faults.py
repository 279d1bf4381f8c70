"""The agent misbehaves: it hangs, floods its output, exits without a result, prints garbage.
Each turn ends with the user message stored, the reply final with what was streamed, the thread free."""

from __future__ import annotations

import pytest

from tests.reliability.conftest import assert_thread_usable, assert_turn_kept, one_turn
from tests.stack import Stack

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("word", "code", "says"),
    [
        ("hang", "timeout", "printed nothing for 3 s and was stopped"),  # silent after its first words
        ("no-result", "agent_error", "ended without a result"),  # exits 0 halfway through the reply
        ("die", "agent_error", "stopped unexpectedly (exit code 1)"),  # crashes halfway through the reply
    ],
)
async def test_an_agent_that_fails_mid_reply_ends_the_turn_with_an_error_and_the_thread_is_free(
    agent_stack: Stack, word: str, code: str, says: str
) -> None:
    prompt = f"[[{word}]] and then"
    thread_id, record = await one_turn(agent_stack, prompt)
    assert (record.final["type"], record.final["code"]) == ("error", code)
    assert says in record.final["message"]
    assert record.text.startswith(f"You said: [[{word}]]")
    assert assert_turn_kept(agent_stack, thread_id, prompt, record)["status"] == "error"
    await assert_thread_usable(agent_stack, thread_id)


async def test_an_agent_that_floods_its_output_is_relayed_in_full(agent_stack: Stack) -> None:
    prompt = "[[flood]] say everything"
    thread_id, record = await one_turn(agent_stack, prompt)
    assert record.final["type"] == "done", record.final
    assert len(record.text) > 2_000_000
    assert record.seqs == list(range(1, len(record.seqs) + 1))
    assert record.text.rstrip().endswith("flood")
    assert_turn_kept(agent_stack, thread_id, prompt, record)
    await assert_thread_usable(agent_stack, thread_id)


async def test_garbage_lines_in_the_agent_output_are_skipped(agent_stack: Stack) -> None:
    prompt = "[[garbage]] mixed output"
    thread_id, record = await one_turn(agent_stack, prompt)
    assert record.final["type"] == "done", record.final
    assert record.text.startswith("You said: [[garbage]] mixed output\n\nHere is a **simulated** answer.")
    assert "not json" not in record.text
    assert_turn_kept(agent_stack, thread_id, prompt, record)
    await assert_thread_usable(agent_stack, thread_id)


async def test_the_next_message_right_after_done_is_never_refused_as_busy(agent_stack: Stack) -> None:
    """A client may send its next message the moment it sees `done` (found by the soak)."""
    from tests.e2e.chat_client import ChatClient, new_thread  # noqa: PLC0415

    thread_id = new_thread(agent_stack.api_url)
    client = await ChatClient.open(agent_stack.gateway_url())
    try:
        for number in range(10):
            started = await client.message(thread_id, f"quick {number}")
            assert started["type"] == "started", (number, started)
            record = await client.until_final()
            assert record.final["type"] == "done"
    finally:
        await client.close()

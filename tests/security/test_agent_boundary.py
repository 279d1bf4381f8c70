"""The agent boundary: a message is data, never a flag or a shell command; what the agent says
about its own failures reaches the client bounded and without secrets or host paths."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.e2e.chat_client import one_turn
from tests.security.conftest import AuthStack

pytestmark = pytest.mark.e2e

SECRETS = ("sk-ant-api03", "SECRET", "hunter2", "eyJhbGciOiJIUzI1NiJ9", "/root/", "/home/operator", ".credentials")


def _hostile_prompts(marker: Path) -> list[str]:
    return [
        "--help",
        "-p --permission-mode default",
        "--resume=00000000-0000-0000-0000-000000000000",
        "--output-format text",
        "-- --version",
        f"$(touch {marker})",
        f"`touch {marker}`",
        f"; touch {marker}; echo",
        f"| touch {marker}",
        f"&& touch {marker}",
        f"'\"; touch {marker}; \"'",
        f"\ntouch {marker}\n",
        "${HOME} %PATH% ~ * ? [a-z] {a,b} !!",
        "\u202e\u2066 bidi \U0001f600 \ufeff zero\u200bwidth",
    ]


async def test_flag_and_shell_like_messages_reach_the_agent_verbatim_and_run_nothing(
    auth_stack: AuthStack, tmp_path: Path
) -> None:
    marker = tmp_path / f"pwned-{uuid.uuid4().hex}"
    thread_id = auth_stack.new_thread()
    client = await auth_stack.client()
    try:
        for prompt in _hostile_prompts(marker):
            _, record = await client.turn(thread_id, prompt)
            assert record.final["type"] == "done", (prompt, record.final)
            # The simulator echoes the prompt it read on stdin: exactly what was sent.
            assert record.text.startswith(f"You said: {prompt[:200]}\n\n"), prompt
    finally:
        await client.close()
    assert not marker.exists(), "a message was run by a shell"
    stored = [m["content"] for m in auth_stack.messages(thread_id) if m["role"] == "user"]
    assert stored == _hostile_prompts(marker)


async def test_a_nul_byte_is_refused_and_nothing_is_stored(auth_stack: AuthStack) -> None:
    thread_id = auth_stack.new_thread()
    client = await auth_stack.client()
    try:
        for content in ("a\x00b", "\x00", "--help\x00-rf /"):
            refused = await client.message(thread_id, content)
            assert (refused["type"], refused["code"]) == ("error", "invalid_message")
            assert "NUL" in refused["message"]
    finally:
        await client.close()
    assert auth_stack.messages(thread_id) == []


@pytest.mark.parametrize("size", [100_001, 1_500_000, 10_000_000], ids=["just-over", "1.5MB", "10MB"])
async def test_an_oversized_message_is_refused_as_too_large_and_the_connection_carries_on(
    auth_stack: AuthStack, size: int
) -> None:
    thread_id = auth_stack.new_thread()
    client = await auth_stack.client()
    try:
        refused = await client.message(thread_id, "x" * size)
        assert (refused["type"], refused["code"]) == ("error", "too_large")
        assert refused["threadId"] == thread_id
        _, record = await client.turn(thread_id, "still here")
        assert record.final["type"] == "done"
    finally:
        await client.close()
    assert [m["content"] for m in auth_stack.messages(thread_id) if m["role"] == "user"] == ["still here"]


async def test_agent_stderr_reaches_the_client_bounded_and_without_secrets_or_host_paths(
    auth_stack: AuthStack,
) -> None:
    thread_id = auth_stack.new_thread()
    _, record = await one_turn(auth_stack.client(), thread_id, "[[no-result]] tell me a secret")
    final = record.final
    assert (final["type"], final["code"]) == ("error", "agent_error")
    assert "ended without a result" in final["message"]
    assert len(final["message"]) <= 500
    for secret in SECRETS:
        assert secret not in final["message"], secret
    reply = auth_stack.messages(thread_id)[-1]
    assert reply["status"] == "error"
    assert reply["content"] == record.text, "the text streamed before the failure is kept"
    assert reply["error"] == final["message"]

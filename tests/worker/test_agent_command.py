"""sandchat-agent, as an operator runs it: probe, and ask with text or wire-format output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sandchat import wire

COMMAND = str(Path(sys.executable).with_name("sandchat-agent"))


def sandchat_agent(*args: str, runner: str = "simulator", **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COMMAND, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "AGENT_RUNNER": runner, "SIMULATOR_TOKENS": "5", **env},
        check=False,
    )


def wire_events(stdout: str) -> list[dict[str, Any]]:
    lines = stdout.splitlines()
    for line in lines:
        wire.decode_event(line)  # every line is a valid wire event
    return [json.loads(line) for line in lines]


def test_ask_json_prints_tokens_then_done_and_resume_keeps_the_session() -> None:
    first = sandchat_agent("ask", "--json", "hello")
    assert first.returncode == 0, first.stderr
    events = wire_events(first.stdout)
    tokens = [event for event in events if event["type"] == "token"]
    assert "".join(token["text"] for token in tokens).startswith("You said: hello")
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    done = events[-1]
    assert done["type"] == "done"
    assert done["sessionId"]
    assert len({event["turnId"] for event in events}) == 1

    again = sandchat_agent("ask", "--json", "--resume", done["sessionId"], "hello again")
    assert again.returncode == 0, again.stderr
    assert wire_events(again.stdout)[-1]["sessionId"] == done["sessionId"]


def test_ask_json_shows_tools_and_status() -> None:
    result = sandchat_agent("ask", "--json", "[[tool]] [[retry]]")
    assert result.returncode == 0, result.stderr
    types = [event["type"] for event in wire_events(result.stdout)]
    assert types.count("status") == 2
    assert types.index("tool") < types.index("tool_result")


def test_ask_prints_the_reply_as_text_and_takes_flag_like_prompts_after_a_double_dash() -> None:
    result = sandchat_agent("ask", "--", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("You said: --help")
    assert "session: " in result.stderr


@pytest.mark.parametrize(
    ("prompt", "code"), [("[[fail]]", "agent_error"), ("[[auth-fail]]", "agent_error"), ("[[die]]", "agent_error")]
)
def test_ask_fails_with_an_error_event(prompt: str, code: str) -> None:
    result = sandchat_agent("ask", "--json", prompt)
    assert result.returncode != 0
    error = wire_events(result.stdout)[-1]
    assert error["type"] == "error"
    assert error["code"] == code


def test_ask_times_out(tmp_path: Path) -> None:
    result = sandchat_agent("ask", "--json", "[[hang]]", AGENT_INACTIVITY_TIMEOUT_S="0.5")
    assert result.returncode != 0
    assert wire_events(result.stdout)[-1]["code"] == "timeout"


def test_an_offline_agent_says_so(tmp_path: Path) -> None:
    result = sandchat_agent("ask", "--json", "hello", runner="local", CLAUDE_BIN=str(tmp_path / "no-claude"))
    assert result.returncode != 0
    error = wire_events(result.stdout)[-1]
    assert error["code"] == "agent_offline"
    assert error["message"] == "Agent is offline. Check the Docker sandbox."


def test_probe_prints_the_status() -> None:
    healthy = sandchat_agent("probe")
    assert healthy.returncode == 0
    assert healthy.stdout.startswith("healthy: ")
    logged_out = sandchat_agent("probe", SIMULATOR_AUTH="logged-out")
    assert logged_out.returncode != 0
    assert logged_out.stdout.startswith("unauthenticated: ")

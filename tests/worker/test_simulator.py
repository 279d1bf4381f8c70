"""sandchat-fake-claude as a CLI: its help, its fake-login answer, and the benchmark stamps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

COMMAND = str(Path(sys.executable).with_name("sandchat-fake-claude"))
TURN = ["-p", "--output-format", "stream-json", "--verbose", "--include-partial-messages"]


def fake_claude(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **env}
    return subprocess.run(
        [COMMAND, *args], input=stdin, capture_output=True, text=True, timeout=30, env=environment, check=False
    )


def test_help_documents_every_way_to_steer_it() -> None:
    result = fake_claude("--help")
    assert result.returncode == 0
    for word in (
        "[[tool]]",
        "[[retry]]",
        "[[fail]]",
        "[[hang]]",
        "[[die]]",
        "[[auth-fail]]",
        "[[markdown]]",
        "[[env]]",
    ):
        assert word in result.stdout
    for variable in ("SIMULATOR_TOKENS", "SIMULATOR_DELAY_MS", "SIMULATOR_STATE_DIR", "SIMULATOR_STAMP"):
        assert variable in result.stdout


def test_auth_status_reports_a_claude_login_or_none() -> None:
    logged_in = fake_claude("auth", "status", "--json")
    assert logged_in.returncode == 0
    assert json.loads(logged_in.stdout) == {"loggedIn": True, "authMethod": "claude.ai", "apiProvider": "firstParty"}
    logged_out = fake_claude("auth", "status", "--json", SIMULATOR_AUTH="logged-out")
    assert logged_out.returncode == 1
    assert json.loads(logged_out.stdout)["loggedIn"] is False


def test_stamped_deltas_carry_the_time_they_were_written() -> None:
    before = time.time()
    result = fake_claude(*TURN, stdin="hello", SIMULATOR_STAMP="1", SIMULATOR_TOKENS="3")
    assert result.returncode == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    deltas = [line for line in lines if line.get("event", {}).get("type") == "content_block_delta"]
    assert len(deltas) == 3
    assert all(before <= line["sandchat_stamp"] <= time.time() for line in deltas)


def test_unknown_session_fails_like_the_real_cli() -> None:
    result = fake_claude(*TURN, "--resume=0000-unknown", stdin="hello")
    assert result.returncode == 1
    assert result.stderr.strip() == "No conversation found with session ID: 0000-unknown"
    [line] = [json.loads(line) for line in result.stdout.splitlines()]
    assert line["type"] == "result"
    assert line["subtype"] == "error_during_execution"
    assert line["is_error"] is True
    assert line["errors"] == ["No conversation found with session ID: 0000-unknown"]


def test_markdown_reply_has_bold_and_a_code_block() -> None:
    result = fake_claude(*TURN, stdin="[[markdown]]", SIMULATOR_TOKENS="8")
    reply = json.loads(result.stdout.splitlines()[-1])["result"]
    assert reply.startswith("You said: [[markdown]]\n\n")
    assert "**bold**" in reply
    assert "```python\n" in reply


def test_env_replies_with_its_working_directory_and_whole_environment(tmp_path: Path) -> None:
    result = subprocess.run(
        [COMMAND, *TURN],
        input="[[env]]",
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": os.environ["PATH"], "PROBE_ME": "visible", "SIMULATOR_STATE_DIR": str(tmp_path)},
        cwd=tmp_path,
        check=False,
    )
    reply = json.loads(result.stdout.splitlines()[-1])["result"]
    assert reply.startswith(f"You said: [[env]]\n\ncwd: {tmp_path}\nenv:\n")
    assert "\nPROBE_ME=visible\n" in reply

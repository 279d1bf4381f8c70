"""sandchat-fake-claude as a CLI: its help, its fake-login answer, the benchmark stamps, and its live
mode speaking the real CLI's control protocol."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from sandchat_worker.simulator import MODES

from tests.worker.conftest import CLI_DATA

COMMAND = str(Path(sys.executable).with_name("sandchat-fake-claude"))
LIVE = ["-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose"]
TURN = ["-p", "--output-format", "stream-json", "--verbose", "--include-partial-messages"]


def fake_claude(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **env}
    return subprocess.run(
        [COMMAND, *args], input=stdin, capture_output=True, text=True, timeout=30, env=environment, check=False
    )


def test_help_documents_every_way_to_steer_it() -> None:
    result = fake_claude("--help")
    assert result.returncode == 0
    words = ("[[tool]]", "[[touch]]", "[[edit]]", "[[write]]", "[[ask]]", "[[slow]]", "[[retry]]", "[[fail]]")
    for word in (*words, "[[hang]]", "[[die]]", "[[auth-fail]]", "[[markdown]]", "[[env]]"):
        assert word in result.stdout
    for flag in ("--input-format stream-json", "--permission-prompt-tool stdio", "--session-id", "--allowedTools"):
        assert flag in result.stdout
    for variable in ("SIMULATOR_TOKENS", "SIMULATOR_DELAY_MS", "SIMULATOR_STATE_DIR", "SIMULATOR_STAMP"):
        assert variable in result.stdout


def test_operating_doc_documents_every_scenario_word() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "operating.md").read_text()
    assert [word for word in MODES if f"| `[[{word}]]` |" not in doc] == []
    assert all(f"[[{word}]]" in fake_claude("--help").stdout for word in MODES)


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


def _reply_and_entry(result: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    entry = [line["uuid"] for line in lines if line["type"] in ("assistant", "user")][-1]
    return lines[-1]["result"], entry


def test_a_forked_session_remembers_the_history_up_to_the_chosen_entry(tmp_path: Path) -> None:
    env = {"SIMULATOR_STATE_DIR": str(tmp_path), "SIMULATOR_TOKENS": "2"}
    origin, fork, other = (str(uuid.uuid4()) for _ in range(3))
    _, first_entry = _reply_and_entry(fake_claude(*TURN, f"--session-id={origin}", stdin="alpha", **env))
    reply, _ = _reply_and_entry(fake_claude(*TURN, f"--resume={origin}", stdin="beta [[history]]", **env))
    assert "Earlier in this session: alpha." in reply

    at_first = [f"--resume={origin}", "--fork-session", f"--resume-session-at={first_entry}", f"--session-id={fork}"]
    reply, _ = _reply_and_entry(fake_claude(*TURN, *at_first, stdin="gamma [[history]]", **env))
    assert "Earlier in this session: alpha." in reply
    assert (
        json.loads(fake_claude(*TURN, f"--resume={fork}", stdin="[[history]]", **env).stdout.splitlines()[-1])[
            "result"
        ].count("alpha | gamma [[history]].")
        == 1
    )
    # The origin is unchanged; a whole-session fork keeps every turn.
    reply, _ = _reply_and_entry(
        fake_claude(*TURN, f"--resume={origin}", "--fork-session", f"--session-id={other}", stdin="[[history]]", **env)
    )
    assert "Earlier in this session: alpha | beta [[history]]." in reply

    unknown = fake_claude(
        *TURN, f"--resume={origin}", "--fork-session", f"--resume-session-at={uuid.uuid4()}", stdin="x", **env
    )
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("No message found with message.uuid of: ")


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


def real_control_request() -> dict[str, Any]:
    lines = [json.loads(line) for line in (CLI_DATA / "live-approvals.jsonl").read_text().splitlines()]
    return next(line for line in lines if line["type"] == "control_request")


def test_a_live_simulator_asks_before_a_tool_in_the_real_clis_shape() -> None:
    with subprocess.Popen(
        [COMMAND, *LIVE, "--permission-mode", "default", "--permission-prompt-tool", "stdio"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    ) as simulator:
        assert simulator.stdin is not None
        assert simulator.stdout is not None
        simulator.stdin.write(b'{"type":"user","message":{"role":"user","content":"[[touch]] please"}}\n')
        simulator.stdin.flush()
        lines = (json.loads(line) for line in iter(simulator.stdout.readline, b""))
        asked = next(line for line in lines if line["type"] == "control_request")
        simulator.stdin.close()  # nobody will answer: it ends
        assert simulator.wait(10) == 1
    real = real_control_request()
    assert asked.keys() == real.keys()
    assert set(asked["request"]) <= set(real["request"])
    assert asked["request"]["input"] == real["request"]["input"]
    assert asked["request"]["permission_suggestions"][0] == real["request"]["permission_suggestions"][0]

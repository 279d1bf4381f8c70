"""What a client learns of an agent failure is a fixed sentence; the agent's own words go to the log, masked.

The corpus (tests/data/secret-corpus.json) holds secrets in the formats an agent may print: URLs
with passwords, cloud and chat tokens, JWTs, tokens inside JSON, private keys, the CLI's own
credential lines. An agent that fails with all of them on stderr and in its error result tells the
client nothing but the sentence of its failure class.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from sandchat_worker.agent_failures import classify_exit, classify_result
from sandchat_worker.agent_runners import AgentRunner, LocalRunner
from sandchat_worker.agent_stream import AgentResult
from sandchat_worker.agent_turn import run_agent_turn
from sandchat_worker.secret_redaction import redact

from tests.sandbox_service import running_sandbox
from tests.worker.conftest import Recorder

CORPUS_FILE = Path(__file__).resolve().parents[1] / "data" / "secret-corpus.json"
CORPUS: list[dict[str, str]] = json.loads(CORPUS_FILE.read_text())
SECRETS = [entry["secret"] for entry in CORPUS]

# A CLI that starts a session, streams a little, prints the whole corpus on stderr, then fails as asked.
LEAKY_CLI = """#!{python}
import json, sys
corpus = json.load(open({corpus!r}))
sys.stdin.read()
def emit(event):
    print(json.dumps({{**event, "session_id": "32175d93-2cc2-4775-82a8-56ce80d73b2b"}}), flush=True)
emit({{"type": "system", "subtype": "init"}})
delta = {{"type": "content_block_delta", "index": 0, "delta": {{"type": "text_delta", "text": "Working on it. "}}}}
emit({{"type": "stream_event", "event": delta}})
for entry in corpus:
    print(entry["text"], file=sys.stderr)
sys.stderr.flush()
if {mode!r} == "error-result":
    errors = ["API Error: 500 " + entry["text"] for entry in corpus]
    emit({{"type": "result", "subtype": "error_during_execution", "is_error": True, "errors": errors,
          "result": " ".join(entry["text"] for entry in corpus)}})
sys.exit(1)
"""


def leaky_cli(folder: Path, mode: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "leaky-claude"
    script.write_text(LEAKY_CLI.format(python=sys.executable, corpus=str(CORPUS_FILE), mode=mode))
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize("entry", CORPUS, ids=[entry["kind"] for entry in CORPUS])
def test_the_log_redaction_masks_every_secret_of_the_corpus(entry: dict[str, str]) -> None:
    assert entry["secret"] not in redact(entry["text"])


async def leaky_turn(where: str, mode: str, tmp_path: Path) -> Any:
    cli = leaky_cli(tmp_path / "bin", mode)
    if where == "local":
        return await _turn(LocalRunner(cli))
    async with running_sandbox(cli, tmp_path / "workspace") as sandbox:
        return await _turn(sandbox.runner())


async def _turn(runner: AgentRunner) -> Any:
    return await run_agent_turn(
        runner, "fail, please", None, on_events=Recorder(), cancel=asyncio.Event(), inactivity_timeout_s=30
    )


@pytest.mark.parametrize("where", ["local", "sandbox"])
@pytest.mark.parametrize(
    ("mode", "sentence"),
    [
        ("exit", "The agent stopped unexpectedly (exit code 1)."),
        ("error-result", "The Claude API answered with an error (HTTP 500); try again."),
    ],
)
async def test_an_agent_failing_with_secrets_everywhere_tells_the_client_only_its_sentence(
    where: str, mode: str, sentence: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outcome = await leaky_turn(where, mode, tmp_path)
    assert (outcome.kind, outcome.error) == ("error", sentence)
    assert outcome.text == "Working on it. "
    assert "the agent" in caplog.text  # the failure is logged …
    assert [secret for secret in SECRETS if secret in caplog.text] == []  # … with every secret masked


def result(*errors: str, text: str | None = None, subtype: str = "success") -> AgentResult:
    return AgentResult(True, subtype, text, errors, None, None, None, None)


@pytest.mark.parametrize(
    ("failed", "expected"),
    [
        (
            result("API Error: 529 " + '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'),
            ("api_error", "The Claude API answered with an error (HTTP 529, overloaded_error); try again."),
        ),
        (
            result(text='API Error: 500 {"type":"error","error":{"type":"sk-ant-secret_error"}}'),
            ("api_error", "The Claude API answered with an error (HTTP 500); try again."),
        ),
        (
            result(text="API Error: 429 rate_limit_error"),
            ("rate_limit", "The Claude API's rate limit was reached; try again later."),
        ),
        (
            result(text="Claude AI usage limit reached|1760000000"),
            ("rate_limit", "The Claude API's rate limit was reached; try again later."),
        ),
        (
            result(text="API Error: Connection error."),
            ("api_unreachable", "The agent could not reach the Claude API; check the sandbox's network connection."),
        ),
        (
            result(text='API Error: 401 {"type":"authentication_error"}'),
            (
                "auth",
                "Claude Code is not logged in: the Claude API refused its credentials. Log in inside the sandbox.",
            ),
        ),
        (
            result(subtype="error_max_turns"),
            ("incomplete", "The agent stopped: it reached its limit of turns for one reply."),
        ),
        (
            result("No conversation found with session ID: 32175d93-2cc2-4775-82a8-56ce80d73b2b"),
            ("stale_session", "The agent's session for this thread could not be resumed."),
        ),
        (
            result(text="something nobody foresaw at /home/operator/.env", subtype="a-new-subtype"),
            ("incomplete", "The agent could not finish the reply."),
        ),
    ],
    ids=["overloaded", "unknown-type", "429", "usage-limit", "unreachable", "401", "max-turns", "stale", "unknown"],
)
def test_an_error_result_maps_to_its_class_and_sentence(failed: AgentResult, expected: tuple[str, str]) -> None:
    assert classify_result(failed) == expected


@pytest.mark.parametrize(
    ("returncode", "lost", "sentence"),
    [
        (1, False, "The agent stopped unexpectedly (exit code 1)."),
        (0, False, "The agent ended without a result."),
        (-signal.SIGKILL, False, "The agent was killed by signal 9 (SIGKILL)."),
        (-signal.SIGKILL, True, "The connection to the sandbox was lost; the agent was stopped."),
    ],
)
def test_an_exit_without_a_result_is_told_by_numbers_only(returncode: int, lost: bool, sentence: str) -> None:
    assert classify_exit(returncode, lost=lost)[1] == sentence

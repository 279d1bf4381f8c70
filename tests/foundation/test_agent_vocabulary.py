"""The arguments sandchat gives the agent CLI and the environment it starts it with, defined once."""

from __future__ import annotations

import pytest
from sandchat.agent_cli import PROBE_ARGS, TURN_ARGS, CliArgsError, Fork, check_cli_args, live_args, turn_args
from sandchat.agent_env import RUN_MARKER, agent_environment
from sandchat.settings import Settings, SettingsError, build_settings

SESSION = "32175d93-2cc2-4775-82a8-56ce80d73b2b"


def test_a_turn_resumes_a_session_in_the_equals_form_only() -> None:
    assert turn_args(None) == list(TURN_ARGS)
    assert turn_args(SESSION) == [*TURN_ARGS, f"--resume={SESSION}"]
    assert turn_args(SESSION, "plan")[-2:] == ["plan", f"--resume={SESSION}"]


@pytest.mark.parametrize("stored", ["--help", "../../etc/passwd", "x" * 40, SESSION.upper()])
def test_a_stored_session_that_is_no_session_id_starts_a_new_session(stored: str) -> None:
    assert turn_args(stored) == list(TURN_ARGS)


@pytest.mark.parametrize(
    "args",
    [
        list(PROBE_ARGS),
        turn_args(None),
        turn_args(SESSION, "acceptEdits"),
        # A live session (one long-lived process per thread): stream-json both ways, approvals on stdio.
        [
            *("-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose"),
            *("--include-partial-messages", "--permission-prompt-tool", "stdio", "--permission-mode", "default"),
            *("--session-id", SESSION),
        ],
        ["-p", "--output-format", "stream-json", "--verbose", f"--resume={SESSION}", "--fork-session"],
    ],
    ids=["probe", "turn", "resumed-turn", "live-session", "forked-session"],
)
def test_what_the_runners_build_is_accepted(args: list[str]) -> None:
    check_cli_args(args)


def test_a_live_agent_with_its_granted_rules_is_accepted() -> None:
    rules = ["Bash(npm test)", "Bash(touch made by the agent.txt)", "WebFetch", "Edit(src/**)"]

    check_cli_args(live_args(SESSION, resume=True, permission_mode="acceptEdits", allowed_tools=rules))
    check_cli_args(live_args(SESSION, resume=False, permission_mode="plan"))


def test_a_fork_starts_a_new_session_from_another_ones_history_up_to_an_entry() -> None:
    origin, entry = "0b0b0b0b-1111-4222-8333-444455556666", "0c0c0c0c-1111-4222-8333-444455556666"
    args = live_args(SESSION, resume=False, permission_mode="default", fork=Fork(origin, entry))
    assert args[-4:] == [
        f"--resume={origin}",
        "--fork-session",
        f"--resume-session-at={entry}",
        f"--session-id={SESSION}",
    ]
    check_cli_args(args)
    # A process that resumes its own session forks nothing; a stored value that is no UUID is no flag.
    assert "--fork-session" not in live_args(SESSION, resume=True, permission_mode="default", fork=Fork(origin))
    unsafe = live_args(SESSION, resume=False, permission_mode="default", fork=Fork(origin, "--help"))
    assert "--fork-session" in unsafe
    assert all("--help" not in arg for arg in unsafe)
    with pytest.raises(CliArgsError, match="--resume-session-at takes a session id"):
        check_cli_args(["-p", "--resume-session-at=../x"])


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["-p", "--allowedTools", "Bash"], "'--allowedTools' is not an argument"),
        (["-p", "--allowedTools=Bash(rm\n-rf /)"], "takes a permission rule"),
        (["-p", "--allowedTools=--dangerously-skip-permissions"], "takes a permission rule"),
        (["-p", "--permission-mode=yolo"], "--permission-mode takes one of"),
        (["-p", "--session-id=../../etc"], "--session-id takes a session id"),
        (["-p", f"--session-id={SESSION}", f"--session-id={SESSION}"], "--session-id is given twice"),
    ],
)
def test_live_agent_arguments_outside_the_vocabulary_are_refused(args: list[str], says: str) -> None:
    with pytest.raises(CliArgsError, match=says):
        check_cli_args(args)


def test_a_refusal_says_what_is_wrong_in_one_sentence() -> None:
    with pytest.raises(CliArgsError, match=r"^'--mcp-config' is not an argument sandchat gives the agent\.$"):
        check_cli_args(["-p", "--mcp-config", "x.json"])


# Variables on the allow-list: the agent gets each as it is.
ALLOWED = {
    "PATH": "/usr/bin",
    "HOME": "/home/agent",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
    "CLAUDE_CODE_OAUTH_TOKEN": "the agent's own login",
    "IS_SANDBOX": "1",
}
# The worker's environment: the allow-list, the service's secrets, one the operator may name, a stale marker.
SOURCE = {
    **ALLOWED,
    "DATABASE_URL": "postgresql+asyncpg://u:pw@db/x",
    "REDIS_URL": "redis://:pw@r/0",
    "AUTH_TOKEN": "tok",
    "SANDBOX_TOKEN": "s" * 20,
    "CLAUDE_BIN": "claude",
    "AWS_SECRET_ACCESS_KEY": "aws",
    "MY_TOOL_HOME": "/opt/tool",
    RUN_MARKER: "inherited-from-the-worker",
}


def test_the_agent_gets_the_allow_list_and_what_the_operator_names() -> None:
    env = agent_environment(SOURCE, ["MY_TOOL_HOME"], run_marker="run-1")
    assert env == {**ALLOWED, "MY_TOOL_HOME": "/opt/tool", RUN_MARKER: "run-1"}


def test_no_setting_of_the_service_passes_even_when_named() -> None:
    settings = [name.upper() for name in Settings.model_fields]
    env = agent_environment(dict.fromkeys(settings, "x"), settings)
    assert env == {}


def test_agent_env_passthrough_refuses_a_setting_with_one_line() -> None:
    with pytest.raises(SettingsError) as refused:
        build_settings(agent_env_passthrough="MY_TOOL_HOME,DATABASE_URL")
    assert str(refused.value) == (
        "invalid setting AGENT_ENV_PASSTHROUGH (got 'MY_TOOL_HOME,DATABASE_URL'): "
        "expected comma-separated names of variables to pass to the agent, none of them a setting"
    )


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"sandbox_url": "http://sandbox:8002"}, "SANDBOX_URL"),
        ({"sandbox_token": "short"}, "SANDBOX_TOKEN"),
        ({"sandbox_cli": "podman"}, "SANDBOX_CLI"),
        ({"sandbox_port": "0"}, "SANDBOX_PORT"),
    ],
)
def test_bad_sandbox_settings_are_refused_naming_the_variable(overrides: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=f"^invalid setting {variable}"):
        build_settings(**overrides)


def test_the_sandbox_token_is_never_echoed_back() -> None:
    with pytest.raises(SettingsError) as refused:
        build_settings(sandbox_token="short")
    assert "short" not in str(refused.value)

"""A bad setting stops a service at start with one line naming the variable — never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sandchat.settings import SettingsError, build_settings, load_settings

BAD_SETTINGS = [
    ("API_PORT", "abc", "invalid setting API_PORT (got 'abc'): expected a port number from 1 to 65535"),
    ("GATEWAY_PORT", "70000", "invalid setting GATEWAY_PORT (got '70000')"),
    ("AGENT_RUNNER", "kubernetes", "expected one of docker-sandbox, local, sandbox, simulator"),
    ("DATABASE_URL", "mysql://root:hunter2@db/x", "invalid setting DATABASE_URL: expected an async SQLAlchemy URL"),
    ("REDIS_URL", "http://nope", "invalid setting REDIS_URL: expected a Redis URL"),
    ("WORKER_MAX_JOBS", "0", "invalid setting WORKER_MAX_JOBS (got '0')"),
    ("ALLOWED_ORIGINS", "evil.example", "invalid setting ALLOWED_ORIGINS"),
]


@pytest.mark.parametrize(("variable", "value", "expected"), BAD_SETTINGS)
def test_a_bad_setting_is_refused_with_one_line(
    variable: str, value: str, expected: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What every service does first (below: that each one does); in process, as a service start costs seconds."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as exited:
        load_settings()
    assert exited.value.code == 2
    stderr = capsys.readouterr().err
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert expected in lines[0]
    assert "hunter2" not in stderr


@pytest.mark.parametrize(
    ("command", "variable", "value", "expected"),
    [("sandchat-api", *BAD_SETTINGS[3]), ("sandchat-gateway", *BAD_SETTINGS[0]), ("sandchat-worker", *BAD_SETTINGS[5])],
)
def test_service_refuses_a_bad_setting_with_one_line(command: str, variable: str, value: str, expected: str) -> None:
    env = {**os.environ, variable: value}
    binary = os.path.join(os.path.dirname(sys.executable), command)
    result = subprocess.run([binary], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize(
    ("command", "env", "expected"),
    [
        ("sandchat-worker", {"AGENT_RUNNER": "sandbox"}, "sandchat: invalid setting SANDBOX_TOKEN (not set): expected"),
        ("sandchat-sandbox", {}, "sandchat: invalid setting SANDBOX_TOKEN (not set): expected"),
        (
            "sandchat-sandbox",
            {"SANDBOX_TOKEN_FILE": "/nonexistent/token"},
            "sandchat: invalid setting SANDBOX_TOKEN_FILE (No such file or directory): expected",
        ),
        (
            "sandchat-sandbox",
            {"SANDBOX_TOKEN": "a-token-long-enough", "SANDBOX_WORKSPACE": "/nonexistent/workspace"},
            "sandchat: invalid setting SANDBOX_WORKSPACE (got '/nonexistent/workspace'): expected an existing",
        ),
    ],
    ids=["worker-without-token", "sandbox-without-token", "token-file-missing", "no-workspace"],
)
def test_the_sandbox_and_its_runner_refuse_to_start_without_what_they_need(
    command: str, env: dict[str, str], expected: str
) -> None:
    clean = {name: value for name, value in os.environ.items() if not name.startswith("SANDBOX_")}
    binary = os.path.join(os.path.dirname(sys.executable), command)
    result = subprocess.run([binary], env={**clean, **env}, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(expected), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_defaults_match_the_design() -> None:
    settings = build_settings()
    assert settings.database_url == "sqlite+aiosqlite:///./data/sandchat.db"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert (settings.api_host, settings.api_port) == ("127.0.0.1", 8000)
    assert (settings.gateway_host, settings.gateway_port) == ("127.0.0.1", 8001)
    assert settings.allowed_origins == ("http://127.0.0.1:8000", "http://localhost:8000")
    assert settings.auth_token is None
    assert settings.agent_runner == "docker-sandbox"
    assert (settings.sandbox_name, settings.sandbox_workspace, settings.claude_bin) == (
        "my-sandbox",
        "/workspace",
        "claude",
    )
    assert (settings.agent_inactivity_timeout_s, settings.worker_max_jobs) == (600, 50)
    assert (settings.sandbox_host, settings.sandbox_port, settings.sandbox_url) == (
        "127.0.0.1",
        8002,
        "ws://127.0.0.1:8002",
    )
    assert (settings.sandbox_token, settings.sandbox_cli, settings.agent_env_passthrough) == (None, "docker", ())


def test_origins_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://chat.example.com, http://localhost:5173/")
    assert build_settings().allowed_origins == ("https://chat.example.com", "http://localhost:5173")


def test_the_token_is_never_echoed() -> None:
    with pytest.raises(SettingsError) as error:
        build_settings(auth_token=123, api_port="x")
    assert "123" not in str(error.value)


@pytest.mark.parametrize(
    ("overrides", "hosts"),
    [
        ({}, ("127.0.0.1", "localhost", "[::1]")),
        (
            {"api_host": "0.0.0.0", "allowed_origins": "https://Chat.Example.com", "auth_mode": "accounts"},
            ("chat.example.com", "localhost", "127.0.0.1", "[::1]"),
        ),
        (
            {"api_host": "192.168.1.5", "allowed_origins": "http://[::1]:8000", "auth_mode": "accounts"},
            ("[::1]", "192.168.1.5"),
        ),
        ({"allowed_hosts": "chat.example.com, Other.example:8443"}, ("chat.example.com", "other.example:8443")),
    ],
)
def test_allowed_hosts_default_to_the_origins_hosts_and_the_bind_address(
    overrides: dict[str, str], hosts: tuple[str, ...]
) -> None:
    assert build_settings(**overrides).allowed_hosts == hosts


def test_an_allowed_host_with_a_scheme_is_refused() -> None:
    with pytest.raises(SettingsError, match="invalid setting ALLOWED_HOSTS"):
        build_settings(allowed_hosts="https://chat.example.com")

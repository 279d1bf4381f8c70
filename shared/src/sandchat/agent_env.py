"""The environment the agent starts with: an allow-list, never the service's own environment.

The agent may be prompt-injected and print or send whatever it can read. So every runner, and the
sandbox service when it starts the CLI, build the agent's environment here from a short list of
harmless names, the CLI's own variables, and what the operator names in AGENT_ENV_PASSTHROUGH.
No setting of the service (DATABASE_URL, REDIS_URL, AUTH_TOKEN, SANDBOX_TOKEN …) ever passes, even
when the operator names it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Final

from sandchat.settings import Settings

# What a process needs to find programs, its home, and its locale.
BASE_NAMES: Final = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TERM", "TZ", "TMPDIR", "COLORTERM"}
)
BASE_PREFIXES: Final = ("LC_",)
# The Claude Code CLI's own variables: its login, API endpoint and behaviour switches.
CLI_PREFIXES: Final = ("ANTHROPIC_", "CLAUDE_")
CLI_NAMES: Final = frozenset(
    {
        "IS_SANDBOX",  # lets bypassPermissions run as root (tests and root containers)
        "DISABLE_AUTOUPDATER",
        "DISABLE_TELEMETRY",
        "DISABLE_ERROR_REPORTING",
        "DISABLE_NON_ESSENTIAL_MODEL_CALLS",
        "NODE_EXTRA_CA_CERTS",
    }
)
# Set by the runner on every agent it starts, so that leftovers can be recognised (sandchat.agent_groups).
RUN_MARKER: Final = "SANDCHAT_AGENT_RUN"


@cache
def service_setting_names() -> frozenset[str]:
    """Every variable the services read as a setting: none of them may reach the agent."""
    return frozenset(name.upper() for name in Settings.model_fields)


def agent_environment(
    source: Mapping[str, str],
    passthrough: Iterable[str] = (),
    *,
    extra_prefixes: tuple[str, ...] = (),
    extra_names: Iterable[str] = (),
    run_marker: str | None = None,
) -> dict[str, str]:
    """The allow-listed part of ``source``: what an agent (or the program that starts it) may see.

    ``extra_prefixes``/``extra_names`` are a runner's own needs (the simulator's SIMULATOR_*, the
    docker CLI's DOCKER_*); ``passthrough`` is AGENT_ENV_PASSTHROUGH.
    """
    names = BASE_NAMES | CLI_NAMES | frozenset(passthrough) | frozenset(extra_names)
    prefixes = BASE_PREFIXES + CLI_PREFIXES + extra_prefixes
    never = service_setting_names()
    env = {
        name: value
        for name, value in source.items()
        if (name in names or name.startswith(prefixes)) and name not in never and name != RUN_MARKER
    }
    if run_marker is not None:
        env[RUN_MARKER] = run_marker
    return env

"""Whose agent runs: each person's own directories, Claude configuration directory and login.

A person's agent works in ``<workspace>/users/<user id>/work`` with ``CLAUDE_CONFIG_DIR`` set to
``<workspace>/users/<user id>/claude``, under every runner (the sandbox service computes the same
directories on its side and refuses any other). Its login is the credential that person stored
(``CLAUDE_CODE_OAUTH_TOKEN`` from ``claude setup-token``, or ``ANTHROPIC_API_KEY``); the operator's
own login variables reach it only when AGENT_SHARED_LOGIN allows and the person stored none.

The one implicit user of AUTH_MODE=none (and of a turn that names no user) is the operator: its
agent runs as before any of this existed, in the workspace itself with the default configuration
directory and the operator's login (docs/security.md).
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from sandchat.models import LOCAL_USER_ID

# A user id as it appears in a path: no separators, no dots at the start, nothing to escape.
_USER_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
USERS_DIR: Final = "users"
WORK_DIR: Final = "work"
CONFIG_DIR: Final = "claude"

LoginKind = Literal["oauth_token", "api_key"]
# Where each kind of stored credential goes in the agent's environment.
LOGIN_VARIABLES: Final[dict[LoginKind, str]] = {
    "oauth_token": "CLAUDE_CODE_OAUTH_TOKEN",
    "api_key": "ANTHROPIC_API_KEY",
}
# The operator's login and configuration as the CLI reads them from its environment: a person's
# agent never inherits these (only its own, or the operator's when the login is shared).
OPERATOR_LOGIN_VARIABLES: Final = frozenset(
    {"CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CONFIG_DIR"}
)


def is_person(user_id: str) -> bool:
    """Whether a turn of ``user_id`` is a person's (their own agent, their share of turns), not the operator's.

    The implicit local user of AUTH_MODE=none and token is the operator; so is a turn that names nobody.
    """
    return bool(user_id) and user_id != LOCAL_USER_ID


class UserIdError(ValueError):
    """A user id that cannot name a directory."""


@dataclass(frozen=True, slots=True)
class AgentLogin:
    """A person's own credential for their agent (decrypted; never logged, never in a repr)."""

    kind: LoginKind
    secret: str = field(repr=False)

    def environment(self) -> dict[str, str]:
        return {LOGIN_VARIABLES[self.kind]: self.secret}


@dataclass(frozen=True, slots=True)
class AgentUser:
    """The person a turn belongs to, as their agent needs it."""

    user_id: str
    login: AgentLogin | None = None
    # Without a login of their own, whether the operator's login may serve them (AGENT_SHARED_LOGIN).
    shared_login: bool = False

    def __post_init__(self) -> None:
        check_user_id(self.user_id)

    def login_environment(self) -> dict[str, str]:
        """What this person's agent gets of a login: theirs; else nothing (a shared login is kept by the caller)."""
        return self.login.environment() if self.login is not None else {}


@dataclass(frozen=True, slots=True)
class UserDirectories:
    """A person's directories under a workspace (absolute, normalised, POSIX paths)."""

    home: str
    work: str
    config: str

    def contains(self, path: str) -> bool:
        """Whether ``path`` (already resolved) is the person's home or inside it."""
        return path == self.home or path.startswith(self.home + "/")


def check_user_id(user_id: str) -> str:
    if not _USER_ID.fullmatch(user_id):
        raise UserIdError("a user id is 1 to 64 letters, digits, dashes or underscores")
    return user_id


def user_directories(workspace: str, user_id: str) -> UserDirectories:
    """Where ``user_id``'s agent works and keeps its configuration, under ``workspace``."""
    home = posixpath.join(posixpath.normpath(workspace), USERS_DIR, check_user_id(user_id))
    return UserDirectories(home, posixpath.join(home, WORK_DIR), posixpath.join(home, CONFIG_DIR))


def make_user_directories(directories: UserDirectories) -> None:
    """Create them on this host, readable by this OS user only."""
    for path in (directories.work, directories.config):
        os.makedirs(path, mode=0o700, exist_ok=True)


def person_environment(
    env: Mapping[str, str], user: AgentUser, directories: UserDirectories, *, shared_login: bool = True
) -> dict[str, str]:
    """``env`` (already allow-listed) for ``user``'s agent: their configuration directory and login.

    The operator's login in ``env`` serves only a person with no login of their own, when both the
    worker (``user.shared_login``) and this side (``shared_login``: the sandbox service's own
    AGENT_SHARED_LOGIN) allow it.
    """
    keep_operator_login = user.login is None and user.shared_login and shared_login
    person = {
        name: value
        for name, value in env.items()
        if name not in OPERATOR_LOGIN_VARIABLES or (keep_operator_login and name != "CLAUDE_CONFIG_DIR")
    }
    person.update(user.login_environment())
    person["CLAUDE_CONFIG_DIR"] = directories.config
    return person

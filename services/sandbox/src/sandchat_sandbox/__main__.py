"""`sandchat-sandbox`: the exec service inside the sandbox; `sandchat-sandbox new-token` for compose."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from sandchat.agent_process import GROUPS
from sandchat.logs import configure_logging
from sandchat.process_memory import hide_process_memory
from sandchat.settings import Settings, SettingsError, load_settings
from sandchat.startup_objects import freeze_startup_objects

from sandchat_sandbox.server import SandboxServer
from sandchat_sandbox.tokens import write_token_pair


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="sandchat-sandbox", description="Run the agent CLI for the workers.")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="listen on SANDBOX_HOST:SANDBOX_PORT (the default)")
    new_token = commands.add_parser(
        "new-token", help="create a worker token and the sandbox's hash of it, unless both files exist"
    )
    new_token.add_argument(
        "--worker-file", type=Path, required=True, help="the token, for SANDBOX_TOKEN_FILE of workers"
    )
    new_token.add_argument(
        "--sandbox-file", type=Path, required=True, help="its sha256, for the sandbox's SANDBOX_TOKEN_FILE"
    )
    args = parser.parse_args(argv)
    if args.command == "new-token":
        written = write_token_pair(args.worker_file, args.sandbox_file)
        print("sandbox token created" if written else "sandbox token already there")
        return
    settings = load_settings()
    server = _build_server(settings)
    # The agent runs as this user: it must not read this process's environment or memory.
    hide_process_memory()
    configure_logging("sandbox", settings.log_format)
    GROUPS.reap_orphans()
    freeze_startup_objects()
    asyncio.run(server.run_forever(settings.sandbox_host, settings.sandbox_port))


def _build_server(settings: Settings) -> SandboxServer:
    """The server, or one line naming the setting that stops it, and exit status 2."""
    try:
        token = settings.sandbox_token_value()
        workspace = settings.sandbox_workspace
        if not os.path.isdir(workspace):
            raise SettingsError(
                f"invalid setting SANDBOX_WORKSPACE (got {workspace!r}): "
                "expected an existing directory for the agent to work in"
            )
    except SettingsError as exc:
        print(f"sandchat: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return SandboxServer(
        token, settings.claude_bin, workspace, settings.agent_env_passthrough, shared_login=settings.agent_shared_login
    )


if __name__ == "__main__":
    main()

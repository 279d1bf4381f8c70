"""`sandchat-dev` (`make dev`): the stack in the foreground with SQLite by default; Ctrl-C stops all.

Redis is the one at REDIS_URL, or a private `redis-server` when nothing answers there.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

from sandchat.settings import load_settings

from sandchat_dev.stack import PINNED_CLI, ROOT, Stack, free_port, stack_env


def _redis_answers(url: str) -> bool:
    parts = urlsplit(url)
    with contextlib.suppress(OSError), socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 1):
        return True
    return False


def _dev_sandbox(env: dict[str, str], port: int, workspace: str, claude_bin: str) -> None:
    """`make dev AGENT_RUNNER=sandbox`: the sandbox on SANDBOX_PORT, working in ./data/workspace unless
    SANDBOX_WORKSPACE names an existing folder, running the pinned CLI unless `claude` is on PATH."""
    env["AGENT_RUNNER"] = "sandbox"  # also when it came from .env: the stack reads only the environment
    env["SANDBOX_PORT"] = str(port)
    if not os.path.isdir(workspace):
        folder = ROOT / "data" / "workspace"
        folder.mkdir(parents=True, exist_ok=True)
        env["SANDBOX_WORKSPACE"] = str(folder)
        print(f"make dev: the sandbox's agent works in {folder}", file=sys.stderr)
    if claude_bin == "claude" and shutil.which("claude") is None and PINNED_CLI.exists():
        env["CLAUDE_BIN"] = str(PINNED_CLI)


def main() -> None:
    """Validate the settings (.env and the environment), then run the stack until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="make dev")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--gateways", type=int, default=1)
    args = parser.parse_args()

    # The services run from the checkout; so does the launcher, for the same .env and the same
    # relative paths (the default DATABASE_URL is ./data/sandchat.db, migrated here, used there).
    os.chdir(ROOT)
    settings = load_settings()
    env = stack_env()
    private_redis: subprocess.Popen[bytes] | None = None
    if not _redis_answers(settings.redis_url):
        binary = shutil.which("redis-server")
        if binary is None:
            sys.exit(f"make dev: nothing answers at REDIS_URL ({settings.redis_url}) and redis-server is not on PATH")
        port = free_port()
        private_redis = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""], stdout=subprocess.DEVNULL
        )
        env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        print(f"make dev: started a private redis-server on {env['REDIS_URL']}", file=sys.stderr)
    if settings.agent_runner == "sandbox":
        _dev_sandbox(env, settings.sandbox_port, settings.sandbox_workspace, settings.claude_bin)
    gateway_ports = [settings.gateway_port + index for index in range(args.gateways)]
    stack = Stack(env, settings.api_port, gateway_ports)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        stack.start(workers=args.workers)
        print(f"\nsandchat is up: {stack.api_url}/chat  (Ctrl-C stops all)\n", file=sys.stderr)
        while all(service.running for service in stack.services):
            time.sleep(0.5)
        print("make dev: a service exited; stopping the rest", file=sys.stderr)
    except KeyboardInterrupt:
        print("\nmake dev: stopping", file=sys.stderr)
    except RuntimeError as exc:
        print(f"make dev: {exc}", file=sys.stderr)
    finally:
        stack.stop()
        if private_redis is not None:
            private_redis.terminate()


if __name__ == "__main__":
    main()

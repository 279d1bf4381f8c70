"""The sandbox service in the test's own process (a real server on a free port, real agent processes).

Starting it costs a few milliseconds, so tests that need a sandbox get their own; only the
end-to-end tests start `sandchat-sandbox` as a separate process (sandchat_dev.stack).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sandchat_sandbox.server import SandboxServer
from sandchat_worker.agent_runners import SandboxRunner


@dataclass(frozen=True)
class RunningSandbox:
    url: str
    token: str
    server: SandboxServer

    def runner(self, token: str | None = None) -> SandboxRunner:
        return SandboxRunner(self.url, token or self.token)


@contextlib.asynccontextmanager
async def running_sandbox(
    claude_bin: str, workspace: Path, passthrough: Sequence[str] = (), token: str | None = None
) -> AsyncIterator[RunningSandbox]:
    token = token or f"sbx-{secrets.token_urlsafe(24)}"
    workspace.mkdir(parents=True, exist_ok=True)
    server = SandboxServer(token, claude_bin, str(workspace), tuple(passthrough))
    async with await server.listen("127.0.0.1", 0) as listening:
        port = next(iter(listening.sockets)).getsockname()[1]
        yield RunningSandbox(f"ws://127.0.0.1:{port}", token, server)

"""The native stack in tests: `sandchat_dev.stack` on free ports, stopped when the test ends."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sandchat_dev.stack import BIN, ROOT, Service, Stack, free_port, stack_env

__all__ = ["BIN", "ROOT", "Service", "Stack", "free_port", "running_stack", "stack_env"]


@contextlib.contextmanager
def running_stack(workers: int = 1, gateways: int = 1, **env: str) -> Iterator[Stack]:
    api_port = int(env.get("API_PORT", free_port()))
    ports = [free_port() for _ in range(gateways)]
    origins = f"http://127.0.0.1:{api_port},http://localhost:{api_port}"
    defaults = {"API_PORT": str(api_port), "GATEWAY_PORT": str(ports[0]), "ALLOWED_ORIGINS": origins}
    stack = Stack(stack_env(**{**defaults, **env}), api_port, ports)
    try:
        stack.start(workers=workers)
        yield stack
    finally:
        stack.stop()

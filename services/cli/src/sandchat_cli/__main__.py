"""`sandchat`: chat with the agent from a terminal — and a worked example of the WebSocket protocol.

sandchat chat "explain this repository"           # a new thread
sandchat chat "and the tests?" --thread <id>      # continue one (queued if a reply is running)
sandchat threads                                  # list them, most recent first
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

import httpx
from sandchat.settings import load_settings
from websockets.exceptions import WebSocketException

from sandchat_cli import conversation


class ChatError(Exception):
    """Something the user should read; printed as one line."""


def _headers() -> dict[str, str]:
    token = os.environ.get("AUTH_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def _api_url(arguments: argparse.Namespace) -> str:
    if arguments.api:
        return str(arguments.api).rstrip("/")
    settings = load_settings()
    return f"http://{settings.api_host}:{settings.api_port}"


def _request(method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    try:
        response = httpx.request(method, url, headers=_headers(), timeout=10, **kwargs)
    except httpx.HTTPError as exc:
        raise ChatError(f"cannot reach the API at {url}: {exc}") from None
    body: dict[str, Any] = response.json() if response.content else {}
    if response.status_code >= 400:
        raise ChatError(f"{response.status_code}: {body.get('detail', response.text)}")
    return body


def _chat(api: str, thread_id: str | None, content: str, show_json: bool) -> int:
    if thread_id is None:
        thread_id = _request("POST", f"{api}/threads", json={})["thread"]["id"]
        print(f"thread {thread_id}", file=sys.stderr)
    gateway = _request("GET", f"{api}/config")["gatewayUrl"]
    try:
        return asyncio.run(conversation.chat(gateway, thread_id, content, headers=_headers(), show_json=show_json))
    except (OSError, WebSocketException) as exc:
        raise ChatError(f"cannot talk to the gateway at {gateway}: {exc}") from None


def _threads(api: str) -> int:
    for thread in _request("GET", f"{api}/threads", params={"limit": 50})["threads"]:
        print(f"{thread['id']}  {thread['updatedAt'][:19].replace('T', ' ')}  {thread['title']}")
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="sandchat", description="Chat with the sandboxed coding agent.")
    parser.add_argument("--api", help="API base URL (default: http://API_HOST:API_PORT)")
    commands = parser.add_subparsers(dest="command", required=True)
    chat = commands.add_parser("chat", help="send a message and stream the reply")
    chat.add_argument("message", help="the message (use -- before one that starts with a dash)")
    chat.add_argument("--thread", help="continue this thread (default: a new one)")
    chat.add_argument("--json", action="store_true", help="print every protocol event as one JSON line")
    commands.add_parser("threads", help="list threads, most recent first")
    arguments = parser.parse_args(argv)
    api = _api_url(arguments)
    try:
        if arguments.command == "threads":
            sys.exit(_threads(api))
        sys.exit(_chat(api, arguments.thread, arguments.message, arguments.json))
    except ChatError as exc:
        print(f"sandchat: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()

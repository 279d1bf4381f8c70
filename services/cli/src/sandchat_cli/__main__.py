"""`sandchat`: chat with the agent from a terminal — and a worked example of the WebSocket protocol.

sandchat chat "explain this repository"           # a new thread
sandchat chat "and the tests?" --thread <id>      # continue one (queued if a reply is running)
sandchat threads                                  # the 50 most recent threads
sandchat threads --all                            # every thread, page by page
sandchat search "deploy plan"                     # titles and messages that hold these words
sandchat export <id> --format json -o thread.json # a whole thread as Markdown (default) or JSON
sandchat stop --thread <id>                       # stop the thread's running reply (Ctrl-C in chat does too)
sandchat token create laptop --user alice         # a personal API token (shown once); export SANDCHAT_TOKEN=...
sandchat token list | sandchat token revoke <id>  # with SANDCHAT_TOKEN set, or --user to sign in

Signed in with SANDCHAT_TOKEN (a personal token) or AUTH_TOKEN (the stack's shared one).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from urllib.parse import quote

import httpx
from sandchat.settings import load_settings
from websockets.exceptions import WebSocketException

from sandchat_cli import conversation, tokens
from sandchat_cli.api_client import ChatError, auth_headers, call, download, iter_search, iter_threads, open_client


def _api_url(arguments: argparse.Namespace) -> str:
    if arguments.api:
        return str(arguments.api).rstrip("/")
    settings = load_settings()
    return f"http://{settings.api_host}:{settings.api_port}"


def _chat(client: httpx.Client, thread_id: str | None, content: str | None, show_json: bool) -> int:
    if thread_id is None:
        thread_id = call(client, "POST", "/threads", json={})["thread"]["id"]
        print(f"thread {thread_id}", file=sys.stderr)
    gateway = call(client, "GET", "/config")["gatewayUrl"]
    try:
        return asyncio.run(conversation.chat(gateway, thread_id, content, headers=auth_headers(), show_json=show_json))
    except (OSError, WebSocketException) as exc:
        raise ChatError(f"cannot talk to the gateway at {gateway}: {exc}") from None


def _stop(client: httpx.Client, thread_id: str) -> int:
    gateway = call(client, "GET", "/config")["gatewayUrl"]
    try:
        return asyncio.run(conversation.stop(gateway, thread_id, headers=auth_headers()))
    except (OSError, WebSocketException) as exc:
        raise ChatError(f"cannot talk to the gateway at {gateway}: {exc}") from None


def list_threads(client: httpx.Client, limit: int | None) -> int:
    """`sandchat threads`: one line per thread, most recent first."""
    for thread in iter_threads(client, limit):
        print(f"{thread['id']}  {thread['updatedAt'][:19].replace('T', ' ')}  {thread['title']}")
    return 0


def search_threads(client: httpx.Client, query: str, limit: int) -> int:
    """`sandchat search`: the best matches first, the matching words in bold on a terminal."""
    bold, plain = ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("", "")
    found = 0
    for result in iter_search(client, query, limit):
        found += 1
        where = result["messageId"] or "title"
        text = "".join(f"{bold}{part['text']}{plain}" if part["hit"] else part["text"] for part in result["snippet"])
        print(f"{result['threadId']}  {where}  {result['threadTitle']}\n    {text}")
    if not found:
        print("no matches", file=sys.stderr)
    return 0 if found else 1


def export_thread(client: httpx.Client, thread_id: str, export_format: str, output: str | None) -> int:
    """`sandchat export`: the whole thread to stdout, or to a file."""
    text = download(client, f"/threads/{quote(thread_id, safe='')}/export", format=export_format)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        print(f"wrote {output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sandchat", description="Chat with the sandboxed coding agent.")
    parser.add_argument("--api", help="API base URL (default: http://API_HOST:API_PORT)")
    commands = parser.add_subparsers(dest="command", required=True)
    chat = commands.add_parser("chat", help="send a message and stream the reply")
    chat.add_argument("message", help="the message (use -- before one that starts with a dash)")
    chat.add_argument("--thread", help="continue this thread (default: a new one)")
    chat.add_argument("--json", action="store_true", help="print every protocol event as one JSON line")
    listing = commands.add_parser("threads", help="list threads, most recent first")
    howmany = listing.add_mutually_exclusive_group()
    howmany.add_argument("--limit", type=_positive, default=50, help="how many threads (default 50)")
    howmany.add_argument("--all", action="store_true", help="every thread, however many")
    finding = commands.add_parser("search", help="search thread titles and messages, best matches first")
    finding.add_argument("query", help="words to find (each must occur; a word also finds longer ones)")
    finding.add_argument("--limit", type=_positive, default=20, help="how many results (default 20)")
    exporting = commands.add_parser("export", help="write a whole thread as Markdown or JSON")
    exporting.add_argument("thread", help="the thread's id (see `sandchat threads`)")
    exporting.add_argument("--format", choices=["md", "json"], default="md", help="md (default) or json")
    exporting.add_argument("-o", "--output", help="write to this file (default: stdout)")
    stopping = commands.add_parser("stop", help="stop the running reply of a thread")
    stopping.add_argument("--thread", required=True, help="the thread's id")
    retrying = commands.add_parser(
        "retry", help="run a thread's last message again after its reply failed or was stopped"
    )
    retrying.add_argument("--thread", required=True, help="the thread's id")
    retrying.add_argument("--json", action="store_true", help="print every protocol event as one JSON line")
    token = commands.add_parser("token", help="create, list or revoke your personal API tokens")
    token.add_argument("action", choices=["create", "list", "revoke"])
    token.add_argument("name", nargs="?", help="create: the new token's name; revoke: the token's id")
    token.add_argument("--user", help="sign in as this user first (AUTH_MODE=accounts; password on stdin)")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    arguments = parser.parse_args(argv)
    if arguments.command == "token" and arguments.action == "revoke" and not arguments.name:
        parser.error("token revoke needs the token's id (see `sandchat token list`)")
    try:
        with open_client(_api_url(arguments)) as client:
            if arguments.command == "threads":
                sys.exit(list_threads(client, None if arguments.all else arguments.limit))
            if arguments.command == "stop":
                sys.exit(_stop(client, arguments.thread))
            if arguments.command == "retry":
                sys.exit(_chat(client, arguments.thread, None, arguments.json))
            if arguments.command == "export":
                sys.exit(export_thread(client, arguments.thread, arguments.format, arguments.output))
            if arguments.command == "token":
                sys.exit(tokens.run(client, arguments.action, arguments.name, arguments.user))
            if arguments.command == "search":
                sys.exit(search_threads(client, arguments.query, arguments.limit))
            sys.exit(_chat(client, arguments.thread, arguments.message, arguments.json))
    except ChatError as exc:
        print(f"sandchat: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()

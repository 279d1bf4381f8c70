"""`sandchat token create|list|revoke`: personal API tokens from the terminal.

With `--user NAME` (AUTH_MODE=accounts) the command first signs in with that person's password (read
from the terminal, or the first line of stdin), like the sign-in page; otherwise it uses the token
already in SANDCHAT_TOKEN (or AUTH_TOKEN). Every other command of `sandchat` reads SANDCHAT_TOKEN too.
"""

from __future__ import annotations

import getpass
import sys
from urllib.parse import quote

import httpx

from sandchat_cli.api_client import call


def sign_in(client: httpx.Client, username: str) -> None:
    """Sign ``client`` in as ``username`` (its cookie jar keeps the session for the next calls)."""
    password = getpass.getpass(f"Password for {username}: ") if sys.stdin.isatty() else sys.stdin.readline()
    # A cookie-authenticated change must name where it comes from: this API's own address.
    client.headers["Origin"] = str(client.base_url).rstrip("/")
    client.headers.pop("Authorization", None)
    call(client, "POST", "/auth/login", json={"username": username, "password": password.rstrip("\r\n")})


def run(client: httpx.Client, action: str, name: str | None, user: str | None) -> int:
    if user:
        sign_in(client, user)
    if action == "create":
        created = call(client, "POST", "/tokens", json={"name": name or "terminal"})
        print(f"token {created['token']['id']} ({created['token']['name']}); shown only now:", file=sys.stderr)
        print(created["secret"])
    elif action == "list":
        for token in call(client, "GET", "/tokens")["tokens"]:
            print(f"{token['id']}  {token['createdAt'][:19].replace('T', ' ')}  …{token['hint']}  {token['name']}")
    else:
        call(client, "DELETE", f"/tokens/{quote(name or '', safe='')}")
        print(f"revoked {name}", file=sys.stderr)
    return 0

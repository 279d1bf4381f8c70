"""The HTTP API as the terminal client calls it: one ``httpx.Client`` and one sentence per failure."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, Final

import httpx

# The API's largest thread page: `--all` walks the list in as few requests as it can.
PAGE_LIMIT: Final = 200


class ChatError(Exception):
    """Something the user should read; printed as one line."""


def auth_headers() -> dict[str, str]:
    token = os.environ.get("AUTH_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def open_client(api: str) -> httpx.Client:
    return httpx.Client(base_url=api, headers=auth_headers(), timeout=10)


def call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    """The JSON body of an API call; :class:`ChatError` with the API's own sentence when it fails."""
    try:
        response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise ChatError(f"cannot reach the API at {client.base_url}: {exc}") from None
    try:
        body: Any = response.json() if response.content else {}
    except ValueError:
        body = {"detail": response.text[:200]}
    if response.status_code >= 400:
        detail = body.get("detail", response.text) if isinstance(body, dict) else response.text
        raise ChatError(f"{response.status_code}: {detail}")
    return body


def iter_threads(client: httpx.Client, limit: int | None) -> Iterator[dict[str, Any]]:
    """Threads, most recent first, page by page: ``limit`` of them, or every one when ``None``."""
    cursor: str | None = None
    left = limit
    while left is None or left > 0:
        params: dict[str, Any] = {"limit": min(PAGE_LIMIT, left) if left is not None else PAGE_LIMIT}
        if cursor:
            params["cursor"] = cursor
        page = call(client, "GET", "/threads", params=params)
        yield from page["threads"]
        if left is not None:
            left -= len(page["threads"])
        cursor = page.get("nextCursor")
        if not cursor:
            return

"""The HTTP API as the terminal client calls it: one ``httpx.Client`` and one sentence per failure."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, Final

import httpx

# The API's largest thread page: `--all` walks the list in as few requests as it can.
PAGE_LIMIT: Final = 200
SEARCH_PAGE_LIMIT: Final = 50


class ChatError(Exception):
    """Something the user should read; printed as one line."""


def auth_headers() -> dict[str, str]:
    """A personal token (SANDCHAT_TOKEN, `sct_...`), else the stack's shared AUTH_TOKEN, when set."""
    token = os.environ.get("SANDCHAT_TOKEN") or os.environ.get("AUTH_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def open_client(api: str) -> httpx.Client:
    return httpx.Client(base_url=api, headers=auth_headers(), timeout=10)


def _failure(response: httpx.Response) -> ChatError:
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    detail = body.get("detail", response.text) if isinstance(body, dict) else response.text[:200]
    return ChatError(f"{response.status_code}: {detail}")


def call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    """The JSON body of an API call; :class:`ChatError` with the API's own sentence when it fails."""
    try:
        response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise ChatError(f"cannot reach the API at {client.base_url}: {exc}") from None
    if response.status_code >= 400:
        raise _failure(response)
    try:
        return response.json() if response.content else {}
    except ValueError:
        raise ChatError(f"the API at {client.base_url} answered something other than JSON") from None


def download(client: httpx.Client, path: str, **params: str) -> str:
    """The text of a file the API hands out (an export)."""
    try:
        response = client.get(path, params=params)
    except httpx.HTTPError as exc:
        raise ChatError(f"cannot reach the API at {client.base_url}: {exc}") from None
    if response.status_code >= 400:
        raise _failure(response)
    return response.text


def iter_threads(client: httpx.Client, limit: int | None) -> Iterator[dict[str, Any]]:
    """Threads, most recent first, page by page: ``limit`` of them, or every one when ``None``."""
    yield from _pages(client, "/threads", "threads", params={}, limit=limit, most=PAGE_LIMIT)


def _pages(
    client: httpx.Client, path: str, key: str, *, params: dict[str, Any], limit: int | None, most: int
) -> Iterator[Any]:
    cursor: str | None = None
    left = limit
    while left is None or left > 0:
        page_params = {**params, "limit": min(most, left) if left is not None else most}
        if cursor:
            page_params["cursor"] = cursor
        page = call(client, "GET", path, params=page_params)
        yield from page[key][:left]
        if left is not None:
            left -= len(page[key])
        cursor = page.get("nextCursor")
        if not cursor:
            return


def iter_search(client: httpx.Client, query: str, limit: int) -> Iterator[dict[str, Any]]:
    """Search results, best first, page by page, up to ``limit`` of them."""
    yield from _pages(client, "/search", "results", params={"q": query}, limit=limit, most=SEARCH_PAGE_LIMIT)

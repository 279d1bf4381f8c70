"""What a person does on /chat, as steps a test can read (a page object over the data-testids)."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass

from playwright.sync_api import Locator, Page, WebSocket, expect

from tests.stack import Stack

REPLY_TIMEOUT_MS = 30_000


def create_thread(stack: Stack, title: str) -> str:
    """A thread stored through the API (as another client would), its id."""
    request = urllib.request.Request(
        stack.api_url + "/threads",
        data=json.dumps({"title": title}).encode(),
        headers={"Content-Type": "application/json", "Origin": stack.api_url},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        thread_id: str = json.load(response)["thread"]["id"]
    return thread_id


def thread_ids(stack: Stack) -> list[str]:
    """Every stored thread's id, newest first, as GET /threads pages them."""
    ids: list[str] = []
    cursor: str | None = None
    while True:
        query = "?limit=200" + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else "")
        with urllib.request.urlopen(f"{stack.api_url}/threads{query}", timeout=5) as response:
            page = json.load(response)
        ids += [thread["id"] for thread in page["threads"]]
        cursor = page["nextCursor"]
        if not cursor:
            return ids


def plain_words(text: str) -> str:
    """Text without markdown marks and layout, to compare what is shown with what is stored."""
    return " ".join(word for word in text.replace("*", "").replace("`", "").split() if word not in {"-", "#"})


@dataclass
class ChatPage:
    page: Page
    stack: Stack

    # --- navigation -------------------------------------------------------------------------------
    def open(self, path: str = "/chat") -> ChatPage:
        with urllib.request.urlopen(self.stack.api_url + path, timeout=5) as response:
            served_as = response.headers.get("content-type", "")
        # A browser downloads the page instead of showing it when it is not served as HTML.
        assert served_as.startswith("text/html"), f"GET {path} is served as {served_as!r}, not text/html"
        self.page.goto(self.stack.api_url + path)
        expect(self.input).to_be_visible()
        self.wait_connected()
        return self

    def new_thread(self) -> None:
        """Start a new conversation: nothing is stored until its first message is sent."""
        self.page.get_by_test_id("new-thread").click()
        self.page.wait_for_url(lambda url: url.endswith("/chat"))
        expect(self.page.locator("main")).to_have_attribute("data-thread", "new")
        expect(self.page.get_by_test_id("empty-thread")).to_be_visible()
        expect(self.page.get_by_test_id("thread-title")).to_have_text("New conversation")

    @property
    def thread_id(self) -> str:
        match = re.search(r"/chat/([^/?#]+)", self.page.url)
        return match.group(1) if match else ""

    def frames_sent(self) -> list[object]:
        """Every JSON frame the page sends on its chat sockets from now on (across reloads)."""
        frames: list[object] = []

        def on_socket(socket: WebSocket) -> None:
            socket.on("framesent", lambda payload: frames.append(json.loads(payload)))

        self.page.on("websocket", on_socket)
        return frames

    def wait_connected(self) -> None:
        """A thread (or the new conversation) is open and the socket is up: the page is ready to send."""
        expect(self.page.locator("main")).not_to_have_attribute("data-thread", "choosing", timeout=REPLY_TIMEOUT_MS)
        expect(self.indicator).to_have_attribute("data-state", "open", timeout=REPLY_TIMEOUT_MS)

    # --- elements ---------------------------------------------------------------------------------
    @property
    def input(self) -> Locator:
        return self.page.get_by_test_id("chat-input")

    @property
    def indicator(self) -> Locator:
        return self.page.get_by_test_id("connection-indicator")

    @property
    def messages(self) -> Locator:
        return self.page.get_by_test_id("message-list").get_by_test_id("message")

    def replies(self) -> Locator:
        return self.page.locator('[data-testid=message][data-role="assistant"]')

    def user_messages(self) -> Locator:
        return self.page.locator('[data-testid=message][data-role="user"]')

    def reply(self, index: int = -1) -> Locator:
        replies = self.replies()
        return replies.last if index == -1 else replies.nth(index)

    # --- actions ----------------------------------------------------------------------------------
    def send(self, text: str) -> None:
        count = self.replies().count()
        self.input.fill(text)
        self.input.press("Enter")
        # The first message of a new conversation stores its thread, which the URL then names.
        self.page.wait_for_url("**/chat/*")
        expect(self.input).to_have_value("")
        expect(self.replies()).to_have_count(count + 1, timeout=REPLY_TIMEOUT_MS)

    def wait_reply(self, status: str = "complete", index: int = -1) -> Locator:
        reply = self.reply(index)
        expect(reply).to_have_attribute("data-status", status, timeout=REPLY_TIMEOUT_MS)
        return reply

    def reply_text(self, index: int = -1) -> str:
        """The reply's words as shown (its body: no error marker, no cost line)."""
        body = self.reply(index).get_by_test_id("message-body")
        return plain_words(body.inner_text()) if body.count() else ""

    def watch_reply_until_done(self) -> list[str]:
        """Samples of the streaming reply's text, until it reaches a final status."""
        samples: list[str] = []
        reply = self.reply()
        while reply.get_attribute("data-status") in ("streaming", None):
            samples.append(self.reply_text())
            self.page.wait_for_timeout(60)
        return samples

    def assert_no_gaps_or_repeats(self, samples: list[str]) -> None:
        """Every text shown while streaming was a beginning of the stored reply, which is shown at the end."""
        stored = self.stored_messages()[-1]
        full = plain_words(str(stored["content"]))
        assert self.reply_text() == full
        assert full.count("You said:") == 1
        for sample in samples:
            assert full.startswith(sample), f"shown while streaming, but not a prefix of the reply:\n{sample}"

    def wait_stored_part(self) -> str:
        """Wait until the store holds part of the streaming reply (the worker writes it every few seconds)."""
        deadline = time.monotonic() + REPLY_TIMEOUT_MS / 1000
        while time.monotonic() < deadline:
            reply = self.stored_messages()[-1]
            assert reply["status"] == "streaming", "the reply ended before the store held a part of it"
            if reply["content"]:
                return str(reply["content"])
            self.page.wait_for_timeout(100)
        raise AssertionError("the store never held a part of the streaming reply")

    def ask(self, text: str) -> Locator:
        self.send(text)
        return self.wait_reply()

    # --- the store, as the API reports it --------------------------------------------------------
    def stored_messages(self, thread_id: str | None = None) -> list[dict[str, object]]:
        url = f"{self.stack.api_url}/threads/{thread_id or self.thread_id}/messages"
        with urllib.request.urlopen(url, timeout=5) as response:
            return list(json.load(response)["messages"])

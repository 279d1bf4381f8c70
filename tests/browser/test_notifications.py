"""Browser notifications: off until turned on, then one per reply that ends while the tab is hidden.

The page's Notification is wrapped to record what it is asked to show, and its visibility is set by the
test (a headless browser's tab never hides by itself).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.axe import assert_accessible
from tests.browser.chat_page import REPLY_TIMEOUT_MS, ChatPage
from tests.browser.conftest import DESKTOP, watched_page
from tests.browser.test_live_sessions import asking_thread, waiting_card
from tests.stack import Stack

pytestmark = pytest.mark.browser

RECORD_AND_HIDE = """
(() => {
  const Real = window.Notification;
  window.__notes = [];
  window.__shown = [];
  class Recorded {
    static get permission() { return Real.permission; }
    static requestPermission(...args) { return Real.requestPermission(...args); }
    constructor(title, options) {
      this.onclick = null;
      window.__notes.push({ title, body: options && options.body, tag: options && options.tag });
      window.__shown.push(this);
    }
    close() {}
  }
  window.Notification = Recorded;
  window.__hidden = false;
  Object.defineProperty(Document.prototype, "visibilityState", {
    configurable: true,
    get() { return window.__hidden ? "hidden" : "visible"; },
  });
  Object.defineProperty(Document.prototype, "hidden", {
    configurable: true,
    get() { return window.__hidden; },
  });
  window.__setHidden = (hidden) => {
    window.__hidden = hidden;
    document.dispatchEvent(new Event("visibilitychange"));
  };
})();
"""


@pytest.fixture
def notifying_page(browser: Browser, stack: Stack) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP)
    context.grant_permissions(["notifications"], origin=stack.api_url)
    context.add_init_script(RECORD_AND_HIDE)
    yield from watched_page(context)


def notes(page: Page) -> list[dict[str, str]]:
    recorded: list[dict[str, str]] = page.evaluate("() => window.__notes")
    return recorded


def test_a_reply_that_ends_while_the_tab_is_hidden_shows_one_notification(notifying_page: Page, stack: Stack) -> None:
    page = notifying_page
    chat = ChatPage(page, stack).open()
    chat.new_thread()
    toggle = page.get_by_test_id("notify-toggle")
    expect(toggle).to_have_attribute("aria-pressed", "false")

    # Off by default: a hidden tab's reply shows nothing.
    page.evaluate("() => window.__setHidden(true)")
    chat.send("Say something before notifications are on")
    chat.wait_reply()
    assert notes(page) == []

    page.evaluate("() => window.__setHidden(false)")
    chat.new_thread()
    assert_accessible(page, "notifications off")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(toggle).to_have_attribute("data-state", "on")
    assert_accessible(page, "notifications on")

    page.evaluate("() => window.__setHidden(true)")
    chat.send("Tell me about lighthouses")
    reply = chat.wait_reply()
    page.wait_for_function("() => window.__notes.length > 0", timeout=REPLY_TIMEOUT_MS)
    [note] = notes(page)
    assert note["tag"].startswith("reply:")
    assert note["body"].split()[:3] == chat.reply_text().split()[:3]
    title = page.get_by_test_id("thread-title").inner_text()
    assert note["title"] == (title if title != "New conversation" else "sandchat")
    expect(reply).to_have_attribute("data-status", "complete")

    # In view again: the next reply shows nothing, and the first was shown once only.
    page.evaluate("() => window.__setHidden(false)")
    chat.send("And one more while I look")
    chat.wait_reply(index=-1)
    assert len(notes(page)) == 1

    # A click on the notification opens its thread.
    first = chat.thread_id
    chat.new_thread()
    page.evaluate("() => window.__shown[0].onclick()")
    page.wait_for_url(f"**/chat/{first}")
    expect(chat.replies()).to_have_count(2)


def test_an_approval_request_while_the_tab_is_hidden_shows_one_notification(notifying_page: Page, stack: Stack) -> None:
    page = notifying_page
    chat = ChatPage(page, stack).open()
    toggle = page.get_by_test_id("notify-toggle")
    toggle.click()
    expect(toggle).to_have_attribute("data-state", "on")

    page.evaluate("() => window.__setHidden(true)")
    asking_thread(chat, "[[touch]] make the file")
    card = waiting_card(chat)
    page.wait_for_function("() => window.__notes.length > 0", timeout=REPLY_TIMEOUT_MS)
    [asked] = notes(page)
    assert asked["body"] == "Waiting for your approval: Bash"
    assert asked["tag"].startswith("approval:")

    # Answered, the reply goes on and ends: one more notification, for the reply.
    card.get_by_role("button", name="Allow once").click()
    chat.wait_reply()
    page.wait_for_function("() => window.__notes.length > 1", timeout=REPLY_TIMEOUT_MS)
    assert [note["tag"].split(":")[0] for note in notes(page)] == ["approval", "reply"]

"""The states worth looking at, saved at 1440x900 and 768x1024 under test-artifacts/screenshots/; axe checks each."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.axe import assert_accessible
from tests.browser.chat_page import ChatPage
from tests.browser.conftest import DESKTOP, TABLET, screenshot, watched_page
from tests.stack import Stack

pytestmark = pytest.mark.browser


@pytest.fixture(params=[DESKTOP, TABLET], ids=["1440x900", "768x1024"])
def sized_page(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Page]:
    yield from watched_page(browser.new_context(viewport=request.param))


def test_screenshots_of_each_state(sized_page: Page, stack: Stack) -> None:
    page = sized_page
    chat = ChatPage(page, stack).open()
    chat.new_thread()
    screenshot(page, "empty-thread")
    assert_accessible(page, "empty-thread")

    chat.send("[[markdown]] Show me a small Python function, please")
    expect(chat.reply().locator("strong")).to_be_visible(timeout=30_000)
    screenshot(page, "streaming")
    assert_accessible(page, "streaming")
    chat.wait_reply()

    chat.ask("[[tool]] Now list the files in the workspace")
    expect(chat.reply().get_by_test_id("tool-block")).to_be_visible()
    chat.reply().get_by_test_id("tool-block").locator("summary").click()
    screenshot(page, "multi-turn-with-code")
    assert_accessible(page, "multi-turn-with-code")

    page.get_by_test_id("thread-dropdown-toggle").click()
    expect(page.get_by_test_id("thread-dropdown")).to_be_visible()
    screenshot(page, "dropdown-open")
    assert_accessible(page, "dropdown-open")
    page.keyboard.press("Escape")

    chat.send("[[fail]] and now something breaks")
    chat.wait_reply("error")
    screenshot(page, "error-state")
    assert_accessible(page, "error-state")

"""The sidebar: every thread reachable by scrolling, search that opens the matching message, export.

Runs last in the package (its threads would otherwise be the newest for the other tests).
"""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.chat_page import ChatPage, create_thread
from tests.browser.conftest import screenshot
from tests.stack import Stack

EXTRA_THREADS = 70


def test_sidebar_scrolls_past_the_first_page_and_search_opens_the_message(page: Page, stack: Stack) -> None:
    oldest = create_thread(stack, "Lighthouse keeper notes")
    for index in range(EXTRA_THREADS):
        create_thread(stack, f"Filler thread {index}")
    chat = ChatPage(page, stack).open()
    chat.ask("the lighthouse lamp needs a new wick")

    sidebar = page.get_by_test_id("sidebar-threads")
    expect(sidebar.get_by_test_id("thread-item").first).to_be_visible()
    for _ in range(5):
        sidebar.evaluate("list => { list.scrollTop = list.scrollHeight; }")
        page.wait_for_timeout(200)
    expect(sidebar.locator(f'[data-thread-id="{oldest}"]')).to_be_visible()
    assert sidebar.get_by_test_id("thread-item").count() > 50

    page.get_by_test_id("search-input").fill("lighthouse wick")
    hit = page.get_by_test_id("search-result").first
    expect(hit.locator("mark")).to_have_text(["lighthouse", "wick"])
    screenshot(page, "search")
    hit.click()
    expect(page.locator('[data-testid="message"][data-focused="true"]')).to_contain_text("lighthouse lamp")

    page.get_by_test_id("export-thread").click()
    with page.expect_download() as download:
        page.get_by_test_id("export-md").click()
    assert download.value.suggested_filename.endswith(".md")

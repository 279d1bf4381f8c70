"""Every screen of the chat checked by axe-core (WCAG 2.2 AA and best practices) in both themes, wide and
on a phone; the thread list from the keyboard; each finished reply said once in the live region.

The agent-unavailable and connection banners are checked where they are made, in
test_connection_and_errors.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from tests.browser.axe import assert_accessible
from tests.browser.chat_page import REPLY_TIMEOUT_MS, ChatPage
from tests.browser.conftest import DESKTOP, screenshot, watched_page
from tests.browser.test_live_sessions import asking_thread, queue, waiting_card
from tests.stack import Stack

pytestmark = pytest.mark.browser

PHONE: ViewportSize = {"width": 390, "height": 844}


def themed_page(browser: Browser, viewport: ViewportSize, scheme: str) -> Iterator[Page]:
    """A page whose system asks for `scheme` (prefers-color-scheme), failing on any page error or dialog."""
    yield from watched_page(browser.new_context(viewport=viewport, color_scheme=scheme))  # type: ignore[arg-type]


@pytest.fixture(params=["dark", "light"])
def wide(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Page]:
    yield from themed_page(browser, DESKTOP, request.param)


@pytest.fixture(params=["dark", "light"])
def phone(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Page]:
    yield from themed_page(browser, PHONE, request.param)


def check(page: Page, screen: str) -> None:
    """axe finds nothing on the screen as it is; a screenshot of it to look at."""
    scheme = page.evaluate("() => matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark'")
    screenshot(page, f"a11y-{screen}-{scheme}")
    assert_accessible(page, f"{screen}, {scheme}")


def check_thread_dropdown(page: Page, screen: str) -> None:
    """The thread dropdown opened from the header and checked, then closed again with Escape."""
    page.get_by_test_id("thread-dropdown-toggle").click()
    expect(page.get_by_test_id("thread-dropdown")).to_be_visible()
    check(page, screen)
    page.keyboard.press("Escape")


def test_every_screen_of_a_conversation_has_no_axe_violations(wide: Page, stack: Stack) -> None:
    chat = ChatPage(wide, stack).open()
    chat.new_thread()
    check(wide, "empty-thread")

    chat.send("[[slow]] Tell me a long story")
    expect(chat.reply()).to_contain_text("You said:")
    check(wide, "streaming")
    wide.get_by_test_id("stop-button").click()
    chat.wait_reply("cancelled")
    chat.ask("[[markdown]] [[tool]] Show me some code")
    chat.reply().get_by_test_id("tool-block").locator("summary").click()
    chat.send("[[fail]] and now something breaks")
    chat.wait_reply("error")
    check(wide, "thread-with-messages")

    check_thread_dropdown(wide, "thread-dropdown")

    # The agent waits for an answer as long as it takes: the approval and the queue hold still.
    asking_thread(chat, "[[touch]] make the file")
    waiting_card(chat)
    check(wide, "approval-command")
    queue(chat, "and then a short one")
    check(wide, "queued-message")
    waiting_card(chat).get_by_role("button", name="Allow once").click()
    expect(chat.replies()).to_have_count(2, timeout=REPLY_TIMEOUT_MS)
    chat.wait_reply()
    chat.send("[[edit]] make it green")
    waiting_card(chat)
    check(wide, "approval-diff")
    waiting_card(chat).get_by_role("button", name="Deny").click()
    chat.wait_reply()
    chat.send("[[ask]] pick a colour")
    waiting_card(chat)
    check(wide, "approval-question")
    waiting_card(chat).get_by_role("button", name="Green").click()
    waiting_card(chat).get_by_role("button", name="Answer").click()
    chat.wait_reply()

    wide.get_by_role("searchbox", name="Search threads and messages").fill("long story")
    expect(wide.get_by_test_id("search-result").first).to_be_visible()
    check(wide, "search-results")


def test_the_page_has_landmarks_a_heading_and_says_who_wrote_each_message(page: Page, stack: Stack) -> None:
    chat = ChatPage(page, stack).open()
    chat.new_thread()
    chat.ask("Who says what?")
    expect(page.get_by_role("main")).to_have_count(1)
    expect(page.get_by_role("navigation", name="Threads")).to_have_count(1)
    expect(page.get_by_role("heading", level=1)).to_have_text("Who says what?")
    expect(page.get_by_role("article", name="You said")).to_have_text("Who says what?")
    expect(page.get_by_role("article", name="The agent said")).to_contain_text("You said: Who says what?")


def test_each_finished_reply_is_announced_once_not_token_by_token(page: Page, stack: Stack) -> None:
    chat = ChatPage(page, stack).open()
    chat.new_thread()
    region = page.get_by_test_id("reply-announcement")
    expect(region).to_have_attribute("aria-live", "polite")
    chat.send("[[slow]] Say a lot")
    expect(chat.reply()).to_contain_text("You said:")
    expect(region).to_have_text("")
    page.get_by_test_id("stop-button").click()
    chat.wait_reply("cancelled")
    expect(region).to_have_text("The reply was stopped.")
    chat.ask("[[markdown]] Now a whole one")
    expect(region).to_contain_text("The agent replied: You said: [[markdown]] Now a whole one Here is bold and a list:")
    assert "**" not in region.inner_text()


def test_the_thread_list_is_one_tab_stop_walked_with_the_arrow_keys(page: Page, stack: Stack) -> None:
    chat = ChatPage(page, stack).open()
    chat.new_thread()
    chat.ask("The first of three")
    first = chat.thread_id
    chat.new_thread()
    chat.ask("The second of three")
    second = chat.thread_id
    chat.new_thread()
    chat.ask("The third of three")
    third = chat.thread_id
    items = page.get_by_test_id("sidebar-threads").get_by_role("option")
    expect(items.first).to_have_attribute("data-thread-id", third)
    current = page.get_by_role("option", name="The third of three")
    expect(current).to_have_attribute("aria-selected", "true")

    page.get_by_test_id("search-input").focus()
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_test_id("sidebar-new-thread")).to_be_focused()
    assert page.get_by_test_id("sidebar-new-thread").evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(current).to_be_focused()
    assert current.evaluate("e => getComputedStyle(e).boxShadow") != "none", "the focused thread shows no ring"
    screenshot(page, "a11y-keyboard-focus")
    page.keyboard.press("ArrowDown")
    expect(page.locator(f'[role=option][data-thread-id="{second}"]')).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(page.locator(f'[role=option][data-thread-id="{first}"]')).to_be_focused()
    page.keyboard.press("Home")
    expect(current).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/chat/{second}")
    expect(chat.user_messages()).to_have_text(["The second of three"], timeout=REPLY_TIMEOUT_MS)
    expect(items).to_have_count(items.count())
    assert items.evaluate_all("items => items.filter(i => i.tabIndex === 0).length") == 1

    toggle = page.get_by_test_id("thread-dropdown-toggle")
    toggle.focus()
    page.keyboard.press("Enter")
    dropdown = page.get_by_test_id("thread-dropdown")
    page.keyboard.press("Tab")
    expect(dropdown.locator(f'[role=option][data-thread-id="{second}"]')).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(dropdown.locator(f'[role=option][data-thread-id="{third}"]')).to_be_focused()
    page.keyboard.press("Escape")
    expect(dropdown).to_have_count(0)
    expect(toggle).to_be_focused()


def test_on_a_phone_search_and_the_theme_are_in_the_menu(phone: Page, stack: Stack) -> None:
    chat = ChatPage(phone, stack).open()
    sidebar = phone.get_by_test_id("sidebar")
    expect(sidebar).to_be_hidden()
    chat.new_thread()
    check(phone, "phone-empty-thread")
    chat.ask("[[markdown]] the narrow window has a heron")
    check(phone, "phone-thread")
    check_thread_dropdown(phone, "phone-thread-dropdown")

    phone.get_by_role("button", name="Threads, search and theme").click()
    expect(sidebar).to_be_visible()
    search = phone.get_by_role("searchbox", name="Search threads and messages")
    expect(search).to_be_focused()
    check(phone, "phone-menu")

    search.fill("heron")
    hit = phone.get_by_test_id("search-result").first
    expect(hit.locator("mark")).to_have_text(["heron"])
    check(phone, "phone-search")
    hit.click()
    expect(sidebar).to_be_hidden()
    expect(phone.locator('[data-testid="message"][data-focused="true"]')).to_contain_text("heron")

    phone.get_by_role("button", name="Threads, search and theme").click()
    toggle = phone.get_by_test_id("theme-toggle")
    expect(toggle).to_be_visible()
    html = phone.locator("html")
    system = phone.evaluate("() => matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark'")
    other = "dark" if system == "light" else "light"
    background = phone.evaluate("() => getComputedStyle(document.body).backgroundColor")
    # system → light → dark: the click that leaves the system's choice shows the other theme.
    while html.get_attribute("data-theme") != other:
        toggle.click()
    assert phone.evaluate("() => getComputedStyle(document.body).backgroundColor") != background
    check(phone, f"phone-menu-toggled-{other}")
    phone.keyboard.press("Escape")
    expect(sidebar).to_be_hidden()
    expect(phone.get_by_role("button", name="Threads, search and theme")).to_be_focused()

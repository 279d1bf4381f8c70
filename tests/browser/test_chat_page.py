"""The /chat page in a real Chromium against the real stack: what a person sees and does."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.chat_page import REPLY_TIMEOUT_MS, ChatPage, create_thread, thread_ids
from tests.stack import Stack

pytestmark = pytest.mark.browser


@pytest.fixture
def chat(page: Page, stack: Stack) -> ChatPage:
    return ChatPage(page, stack).open()


def test_first_visit_opens_the_most_recent_thread_named_in_the_url(chat: ChatPage) -> None:
    latest = create_thread(chat.stack, "The most recent thread")
    chat.open()
    chat.page.wait_for_url(f"**/chat/{latest}")
    expect(chat.page.get_by_test_id("thread-title")).to_have_text("The most recent thread")
    expect(chat.page.get_by_test_id("runner-label")).to_have_text("Demo: simulated agent")


def test_a_stale_link_says_so_and_opens_the_most_recent_thread(chat: ChatPage) -> None:
    latest = create_thread(chat.stack, "Where a stale link lands")
    chat.page.goto(f"{chat.stack.api_url}/chat/{uuid.uuid4()}")
    expect(chat.page.get_by_test_id("chat-error")).to_contain_text("That thread does not exist any more.")
    chat.page.wait_for_url(f"**/chat/{latest}")
    expect(chat.page.get_by_test_id("thread-title")).to_have_text("Where a stale link lands")


def test_new_stores_no_thread_until_the_first_message_which_stores_exactly_one(chat: ChatPage) -> None:
    chat.ask("Something so that a thread is open")
    before = thread_ids(chat.stack)
    for _ in range(3):
        chat.new_thread()
        expect(chat.messages).to_have_count(0)
        expect(chat.input).to_be_enabled()
    chat.page.get_by_test_id("thread-dropdown-toggle").click()
    # The list shows its first page (50): no new conversation was added to it.
    items = chat.page.get_by_test_id("thread-dropdown").get_by_test_id("thread-item")
    expect(items).to_have_count(min(len(before), 50))
    chat.page.keyboard.press("Escape")
    assert thread_ids(chat.stack) == before

    chat.ask("The first words of a new thread")
    after = thread_ids(chat.stack)
    assert len(after) == len(before) + 1
    assert after[0] == chat.thread_id
    assert after[1:] == before
    expect(chat.user_messages()).to_have_text(["The first words of a new thread"])
    expect(chat.reply()).to_contain_text("You said: The first words of a new thread")
    stored = chat.stored_messages()
    assert [(m["role"], m["status"]) for m in stored] == [("user", "complete"), ("assistant", "complete")]
    assert stored[0]["content"] == "The first words of a new thread"
    chat.page.get_by_test_id("thread-dropdown-toggle").click()
    expect(items.first).to_have_attribute("data-thread-id", chat.thread_id)
    expect(items).to_have_count(min(len(after), 50))


def test_a_failed_creation_keeps_the_text_in_the_box(chat: ChatPage) -> None:
    chat.new_thread()
    before = thread_ids(chat.stack)

    def refuse(route: Route) -> None:
        if route.request.method == "POST":
            route.fulfill(status=503, json={"detail": "The store is away."})
        else:
            route.fallback()

    chat.page.route("**/threads", refuse)
    chat.input.fill("Words that must not be lost")
    chat.input.press("Enter")
    error = chat.page.get_by_test_id("chat-error")
    expect(error).to_contain_text("Could not start the conversation")
    expect(error).to_contain_text("Your message is still in the box.")
    expect(chat.input).to_have_value("Words that must not be lost")
    assert chat.page.url.endswith("/chat")
    assert thread_ids(chat.stack) == before

    chat.page.unroute("**/threads", refuse)
    chat.input.press("Enter")
    chat.page.wait_for_url("**/chat/*")
    expect(chat.user_messages()).to_have_text(["Words that must not be lost"])
    chat.wait_reply()
    expect(error).to_have_count(0)


def test_reply_streams_in_token_by_token_and_renders_markdown(chat: ChatPage) -> None:
    chat.new_thread()
    chat.send("[[markdown]] [[slow]] show me some code")
    reply = chat.reply()
    expect(reply).to_have_attribute("data-status", "streaming")
    expect(reply).to_contain_text("You said: [[markdown]] [[slow]] show me some code", timeout=REPLY_TIMEOUT_MS)
    lengths = {len(reply.inner_text())}
    while reply.get_attribute("data-status") == "streaming":
        lengths.add(len(reply.inner_text()))
        chat.page.wait_for_timeout(100)
    assert len(lengths) > 2, "the reply should grow while it streams, not appear at once"
    chat.wait_reply()
    expect(reply.locator("strong").first).to_be_visible()
    code = reply.locator("pre code.hljs.language-python")
    expect(code).to_be_visible()
    expect(code.locator("span[class^='hljs-']").first).to_be_attached()
    expect(reply.get_by_test_id("message-meta")).to_be_visible()


def test_title_of_a_new_thread_comes_from_its_first_message(chat: ChatPage) -> None:
    chat.new_thread()
    chat.ask("Plan the garden shed roof")
    expect(chat.page.get_by_test_id("thread-title")).to_have_text("Plan the garden shed roof")


def test_enter_sends_and_shift_enter_breaks_the_line(chat: ChatPage) -> None:
    chat.new_thread()
    chat.input.click()
    chat.input.type("first line")
    chat.input.press("Shift+Enter")
    chat.input.type("second line")
    expect(chat.input).to_have_value("first line\nsecond line")
    expect(chat.user_messages()).to_have_count(0)
    chat.input.press("Enter")
    expect(chat.user_messages()).to_have_count(1)
    assert chat.user_messages().first.inner_text() == "first line\nsecond line"
    expect(chat.input).to_have_value("")
    chat.wait_reply()


def test_new_thread_then_switching_back_shows_its_history(chat: ChatPage) -> None:
    chat.new_thread()
    chat.ask("Remember the word pineapple")
    first = chat.thread_id
    chat.new_thread()
    expect(chat.messages).to_have_count(0)
    chat.ask("And now the word mango")
    second = chat.thread_id
    assert second != first
    chat.page.get_by_test_id("thread-dropdown-toggle").click()
    dropdown = chat.page.get_by_test_id("thread-dropdown")
    expect(dropdown).to_be_visible()
    items = dropdown.get_by_test_id("thread-item")
    expect(items.first).to_have_attribute("data-thread-id", second)
    expect(items.first).to_have_attribute("data-current", "true")
    previous = dropdown.locator(f'[data-thread-id="{first}"]')
    expect(previous).to_contain_text("Remember the word pineapple")
    expect(previous.get_by_test_id("thread-time")).to_have_text(re.compile(r"^(just now|\d+ \w+ ago)$"))
    previous.click()
    chat.page.wait_for_url(f"**/chat/{first}")
    expect(chat.user_messages()).to_have_text(["Remember the word pineapple"])
    expect(chat.reply()).to_contain_text("You said: Remember the word pineapple")
    chat.page.go_back()
    chat.page.wait_for_url(f"**/chat/{second}")
    expect(chat.user_messages()).to_have_text(["And now the word mango"])


def test_reload_keeps_the_thread_open(chat: ChatPage) -> None:
    chat.new_thread()
    chat.ask("Still here after a reload?")
    thread = chat.thread_id
    chat.page.reload()
    chat.wait_connected()
    assert chat.thread_id == thread
    expect(chat.user_messages()).to_have_text(["Still here after a reload?"])


def test_reload_mid_reply_replays_the_turn_over_the_stored_part_and_streams_the_rest(chat: ChatPage) -> None:
    chat.new_thread()
    sent = chat.frames_sent()
    chat.send("[[slow]] Keep talking while I reload")
    thread_id = chat.thread_id
    expect(chat.reply()).to_contain_text("You said: [[slow]] Keep talking while I reload")
    # The store already holds part of the reply: the reloaded page shows it first, then the turn's
    # replay (from seq 0) must replace it, never be appended to it.
    chat.wait_stored_part()
    chat.page.reload()
    expect(chat.reply()).to_have_attribute("data-status", "streaming", timeout=REPLY_TIMEOUT_MS)
    expect(chat.page.get_by_test_id("stop-button")).to_be_visible()
    samples = chat.watch_reply_until_done()
    # Only the live turn (after the replay) moves the reply on while it streams; the store does not.
    assert len(set(samples)) > 1, f"the reply stood still while it streamed after the reload: {samples[-1:]}"
    assert {"type": "resume", "threadId": thread_id, "afterSeq": 0} in sent, sent
    chat.wait_reply()
    assert chat.stored_messages()[-1]["status"] == "complete"
    chat.assert_no_gaps_or_repeats(samples)


def test_rename_and_delete_a_thread(chat: ChatPage) -> None:
    chat.new_thread()
    chat.ask("A thread to rename")
    thread = chat.thread_id
    chat.page.get_by_test_id("rename-thread").click()
    title_input = chat.page.get_by_test_id("title-input")
    title_input.fill("Renamed by hand")
    title_input.press("Enter")
    expect(chat.page.get_by_test_id("thread-title")).to_have_text("Renamed by hand")
    chat.page.reload()
    expect(chat.page.get_by_test_id("thread-title")).to_have_text("Renamed by hand")

    chat.page.get_by_test_id("delete-thread").click()
    chat.page.get_by_test_id("confirm-delete").click()
    chat.page.wait_for_url(lambda url: thread not in url)
    chat.page.get_by_test_id("thread-dropdown-toggle").click()
    expect(chat.page.locator(f'[data-thread-id="{thread}"]')).to_have_count(0)


def test_html_and_script_in_a_reply_execute_nothing(chat: ChatPage) -> None:
    chat.new_thread()
    payload = '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> **still markdown**'
    reply = chat.ask(payload)
    expect(reply).to_contain_text('<img src=x onerror="window.__pwned=1">')
    expect(reply).to_contain_text("<script>window.__pwned=2</script>")
    assert reply.locator("img, script").count() == 0
    assert chat.page.evaluate("window.__pwned") is None
    chat.page.reload()
    chat.wait_connected()
    expect(chat.reply()).to_contain_text("<script>window.__pwned=2</script>")
    assert chat.page.evaluate("window.__pwned") is None


def test_scrolling_up_stops_following_and_the_button_returns_to_the_end(chat: ChatPage) -> None:
    chat.new_thread()
    for n in range(3):
        chat.ask(f"Message number {n} " + "with some words " * 20)
    chat.send("[[slow]] One more, long")
    listing = chat.page.get_by_test_id("message-list")
    listing.hover()  # scroll up the way a reader does, with the mouse wheel
    chat.page.mouse.wheel(0, -20_000)
    button = chat.page.get_by_test_id("scroll-to-bottom")
    expect(button).to_be_visible()
    # The reply goes on growing below the reader (a few lines), and the page stays where they are.
    height = listing.evaluate("el => el.scrollHeight")
    chat.page.wait_for_function("([el, h]) => el.scrollHeight > h + 60", arg=[listing.element_handle(), height])
    assert listing.evaluate("el => el.scrollTop") < 50, "the page must not jump while the reader is up"
    chat.page.get_by_test_id("stop-button").click()
    chat.wait_reply("cancelled")
    button.click()
    chat.page.wait_for_function(
        "() => { const el = document.querySelector('[data-testid=message-list]');"
        " return el.scrollHeight - el.scrollTop - el.clientHeight < 50 }"
    )
    expect(button).to_have_count(0)

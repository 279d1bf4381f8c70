"""Retry, edit and the agent's state in a real Chromium against the real stack (simulator)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.axe import assert_accessible_in_both_themes
from tests.browser.chat_page import REPLY_TIMEOUT_MS, ChatPage, thread_ids
from tests.browser.conftest import screenshot
from tests.stack import Stack, running_stack

pytestmark = pytest.mark.browser


def test_a_failed_reply_is_retried_with_one_click(page: Page, stack: Stack) -> None:
    chat = ChatPage(page, stack).open()
    chat.new_thread()
    chat.send("[[fail-once]] deploy the site")
    failed = chat.wait_reply("error")
    retry = failed.get_by_test_id("retry-button")
    expect(retry).to_be_visible()
    expect(page.get_by_test_id("agent-state")).to_have_count(0)  # the agent itself is fine
    screenshot(page, "retry")
    assert_accessible_in_both_themes(page, "a failed reply with Retry and Edit")
    retry.click()
    expect(chat.replies()).to_have_count(2, timeout=REPLY_TIMEOUT_MS)
    reply = chat.wait_reply()
    expect(reply).to_contain_text("You said: [[fail-once]] deploy the site")
    expect(page.get_by_test_id("retry-button")).to_have_count(0)
    expect(chat.user_messages()).to_have_text(["[[fail-once]] deploy the site"])
    assert [m["status"] for m in chat.stored_messages()] == ["complete", "error", "complete"]


def test_editing_a_message_opens_a_new_thread_that_forks_the_agent_there(page: Page, stack: Stack) -> None:
    chat = ChatPage(page, stack).open()
    chat.new_thread()
    chat.ask("alpha")
    origin = chat.thread_id
    chat.ask("beta")
    second = chat.user_messages().nth(1).get_attribute("data-message-id")
    page.locator(f'[data-testid=edit-button][data-message-id="{second}"]').click()
    box = page.get_by_test_id("edit-input")
    expect(box).to_have_value("beta")
    box.fill("gamma [[history]]")
    page.get_by_test_id("edit-save").click()

    page.wait_for_url(lambda url: "/chat/" in url and origin not in url)
    fork = chat.thread_id
    expect(chat.user_messages()).to_have_text(["alpha", "gamma [[history]]"], timeout=REPLY_TIMEOUT_MS)
    reply = chat.wait_reply()
    expect(reply).to_contain_text("Earlier in this session: alpha.")
    link = page.get_by_test_id("fork-origin-link")
    expect(link).to_be_visible()
    screenshot(page, "edited-fork")
    assert_accessible_in_both_themes(page, "a fork with its origin link")

    link.click()
    page.wait_for_url(f"**/chat/{origin}")
    expect(chat.user_messages()).to_have_text(["alpha", "beta"])
    expect(page.get_by_test_id("fork-origin")).to_have_count(0)
    assert [m["content"] for m in chat.stored_messages(fork) if m["role"] == "user"] == ["alpha", "gamma [[history]]"]


def test_the_agents_trouble_is_shown_before_sending(page: Page, offline_stack: Stack) -> None:
    chat = ChatPage(page, offline_stack).open()
    # No thread is stored yet: the first visit shows a new conversation and stores none.
    expect(page.locator("main")).to_have_attribute("data-thread", "new")
    expect(page.get_by_test_id("thread-title")).to_have_text("New conversation")
    assert page.url.endswith("/chat")
    assert thread_ids(offline_stack) == []
    banner = page.get_by_test_id("agent-state")
    # The worker's probe finds no CLI: the page says so, with the reason, before any message.
    expect(banner).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    expect(banner).to_have_attribute("data-status", "unavailable")
    expect(banner).to_contain_text("The agent is unavailable.")
    expect(banner).to_contain_text("no-such-claude")
    assert_accessible_in_both_themes(page, "the agent-state banner")
    expect(chat.user_messages()).to_have_count(0)
    screenshot(page, "agent-unavailable")


PICKUP_TIMEOUT_S = 8


@pytest.fixture(scope="module")
def no_worker_stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """api and gateway, and no worker at all."""
    tmp = tmp_path_factory.mktemp("no-worker-stack")
    env = {
        "REDIS_URL": redis_url,
        "REDIS_NAMESPACE": f"browser-{uuid.uuid4().hex[:8]}",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'sandchat.db'}",
        "AGENT_RUNNER": "simulator",
        "TURN_PICKUP_TIMEOUT_S": str(PICKUP_TIMEOUT_S),
    }
    with running_stack(0, 1, **env) as stack:
        yield stack


def test_with_no_worker_the_page_says_so_and_a_message_waits_then_ends_clearly(
    page: Page, no_worker_stack: Stack
) -> None:
    chat = ChatPage(page, no_worker_stack).open()
    banner = page.get_by_test_id("agent-state")
    expect(banner).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    expect(banner).to_have_attribute("data-status", "unknown")
    expect(banner).to_contain_text("No worker has reported the agent's state yet: start a worker")

    chat.send("Is anyone there?")
    expect(chat.reply().get_by_test_id("message-status-line")).to_have_text(
        "Waiting for a worker to take this message…", timeout=REPLY_TIMEOUT_MS
    )
    reply = chat.wait_reply("error")
    expect(reply).to_contain_text(f"No worker took this message within {PICKUP_TIMEOUT_S} s")
    expect(chat.input).to_be_enabled()
    screenshot(page, "no-worker")

"""Connection loss, reconnects and agent failures, as the page shows them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sandchat_dev.stack import free_port

from tests.browser.axe import assert_accessible_in_both_themes
from tests.browser.chat_page import ChatPage
from tests.browser.conftest import AUTH_TOKEN, screenshot
from tests.stack import Stack, running_stack

pytestmark = pytest.mark.browser

AGENT_OFFLINE = "Agent is offline. Check the Docker sandbox."


def test_gateway_restart_shows_the_indicator_then_reconnects_and_the_reply_continues(page: Page, stack: Stack) -> None:
    chat = ChatPage(page, stack).open()
    chat.new_thread()
    chat.send("[[slow]] Keep going while the gateway restarts")
    reply = chat.reply()
    expect(reply).to_contain_text("You said:")
    gateway = stack.service("gateway")
    gateway.stop()
    try:
        expect(chat.indicator).not_to_have_attribute("data-state", "open", timeout=10_000)
        expect(chat.indicator).to_contain_text("Offline")
        expect(page.get_by_test_id("connection-lost")).to_be_visible()
        screenshot(page, "gateway-down")
        assert_accessible_in_both_themes(page, "gateway-down")
    finally:
        stack.start_service(gateway)
    samples = chat.watch_reply_until_done()
    chat.wait_connected()
    chat.wait_reply()
    chat.assert_no_gaps_or_repeats(samples)
    chat.ask("And after the restart?")


def test_agent_failure_keeps_the_partial_reply_with_an_error_marker(page: Page, stack: Stack) -> None:
    chat = ChatPage(page, stack).open()
    chat.new_thread()
    chat.send("[[fail]] this will break")
    reply = chat.wait_reply("error")
    expect(reply).to_contain_text("You said: [[fail]] this will break")
    expect(reply.get_by_test_id("message-error")).to_be_visible()
    expect(chat.input).to_be_enabled()
    screenshot(page, "agent-error")
    assert_accessible_in_both_themes(page, "agent-error")


def test_agent_offline_is_said_inline(page: Page, offline_stack: Stack) -> None:
    chat = ChatPage(page, offline_stack).open()
    chat.new_thread()
    chat.input.fill("Is anyone there?")
    chat.input.press("Enter")
    error = page.get_by_text(AGENT_OFFLINE)
    expect(error).to_be_visible(timeout=30_000)
    expect(chat.user_messages()).to_have_text(["Is anyone there?"])
    expect(chat.input).to_be_enabled()
    screenshot(page, "agent-offline")
    assert_accessible_in_both_themes(page, "agent-offline")


def test_with_auth_the_page_asks_for_the_token_once_and_then_chats(page: Page, auth_stack: Stack) -> None:
    page.goto(auth_stack.api_url + "/chat")
    form = page.get_by_test_id("token-form")
    expect(form).to_be_visible()
    page.get_by_test_id("token-input").fill("not the token")
    page.get_by_test_id("token-input").press("Enter")
    expect(form).to_contain_text("not accepted")
    assert_accessible_in_both_themes(page, "token form")
    page.get_by_test_id("token-input").fill(AUTH_TOKEN)
    page.get_by_test_id("token-input").press("Enter")
    chat = ChatPage(page, auth_stack)
    chat.wait_connected()
    chat.ask("Hello with a ticket")
    expect(chat.reply()).to_contain_text("You said: Hello with a ticket")
    page.reload()
    chat.wait_connected()
    expect(form).to_have_count(0)
    expect(chat.user_messages()).to_have_text(["Hello with a ticket"])


@pytest.fixture(scope="module")
def localhost_refused_stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """api + gateway (no worker) allowing only the origin http://127.0.0.1:<port>, not http://localhost:<port>."""
    tmp: Path = tmp_path_factory.mktemp("refusing-stack")
    port = free_port()
    with running_stack(
        0,
        1,
        API_PORT=str(port),
        ALLOWED_ORIGINS=f"http://127.0.0.1:{port}",
        REDIS_URL=redis_url,
        REDIS_NAMESPACE=f"browser-{uuid.uuid4().hex[:8]}",
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp / 'sandchat.db'}",
        AGENT_RUNNER="simulator",
    ) as stack:
        yield stack


def test_a_page_opened_at_an_address_the_gateway_refuses_says_why(page: Page, localhost_refused_stack: Stack) -> None:
    page.goto(f"http://localhost:{localhost_refused_stack.api_port}/chat")
    indicator = page.get_by_test_id("connection-indicator")
    expect(indicator).to_have_attribute("data-state", "refused", timeout=15_000)
    expect(indicator).to_contain_text("Origin not allowed")
    expect(page.get_by_test_id("connection-refused")).to_contain_text("ALLOWED_ORIGINS")
    expect(page.get_by_test_id("connection-lost")).to_have_count(0)
    screenshot(page, "origin-refused")
    assert_accessible_in_both_themes(page, "origin-refused")

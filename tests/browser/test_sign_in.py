"""AUTH_MODE=accounts in the browser: sign in, chat, the user menu (tokens, agent login), sign out;
a second person in another browser context sees none of the first one's threads."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.axe import assert_accessible_in_both_themes
from tests.browser.chat_page import ChatPage
from tests.browser.conftest import DESKTOP, _stack, screenshot
from tests.stack import BIN, ROOT, Stack

pytestmark = pytest.mark.browser

PASSWORD = "browser password"


@pytest.fixture(scope="module")
def accounts_stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    for stack in _stack(redis_url, tmp_path_factory.mktemp("accounts-stack"), AUTH_MODE="accounts"):
        for name in ("ana", "ben"):
            subprocess.run(
                [str(BIN / "sandchat-admin"), "create-user", name],
                input=PASSWORD + "\n",
                env=stack.env,
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
                timeout=60,
            )
        yield stack


def _sign_in(page: Page, stack: Stack, name: str, password: str = PASSWORD) -> None:
    page.get_by_test_id("sign-in-username").fill(name)
    page.get_by_test_id("sign-in-password").fill(password)
    page.get_by_test_id("sign-in-password").press("Enter")


def test_sign_in_chat_use_the_user_menu_and_sign_out(page: Page, accounts_stack: Stack, browser: Browser) -> None:
    page.goto(accounts_stack.api_url + "/chat")
    expect(page.get_by_test_id("sign-in-form")).to_be_visible()
    _sign_in(page, accounts_stack, "ana", "wrong password")
    expect(page.get_by_test_id("sign-in-error")).to_have_text("Wrong user name or password.")
    screenshot(page, "sign-in-error")
    assert_accessible_in_both_themes(page, "the sign-in page with its error")
    _sign_in(page, accounts_stack, "ana")
    chat = ChatPage(page, accounts_stack)
    chat.wait_connected()
    chat.ask("Ana's first question")
    expect(chat.reply()).to_contain_text("You said: Ana's first question")

    menu = page.get_by_test_id("user-menu")
    expect(menu).to_have_text("ana")
    menu.click()
    page.get_by_role("button", name="API tokens").click()
    page.get_by_test_id("token-name").fill("laptop")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_test_id("token-secret")).to_contain_text("sct_")
    expect(page.get_by_test_id("token-row")).to_have_count(1)
    screenshot(page, "user-menu-tokens")
    assert_accessible_in_both_themes(page, "the user menu's API tokens")
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_test_id("token-row")).to_have_count(0)
    page.get_by_role("button", name="Agent login").click()
    expect(page.get_by_test_id("agent-login-panel")).to_be_visible()
    expect(page.get_by_test_id("agent-login-status")).to_have_attribute("data-status", "shared")
    page.get_by_test_id("agent-login-secret").fill("sk-ant-oat01-ana-browser-0001")
    page.get_by_test_id("agent-login-save").click()
    expect(page.get_by_test_id("agent-login-status")).to_have_attribute("data-status", "own")
    expect(page.get_by_test_id("agent-login-secret")).to_have_value("")
    assert "ana-browser-0001" not in page.content()
    screenshot(page, "user-menu-agent-login")
    assert_accessible_in_both_themes(page, "the user menu's agent login")

    # Ben, in a browser context of his own, sees nothing of Ana's.
    context = browser.new_context(viewport=DESKTOP)
    try:
        other = context.new_page()
        other.goto(accounts_stack.api_url + "/chat")
        _sign_in(other, accounts_stack, "ben")
        ben = ChatPage(other, accounts_stack)
        ben.wait_connected()
        expect(other.get_by_test_id("user-menu")).to_have_text("ben")
        expect(other.get_by_text("Ana's first question")).to_have_count(0)
        other.goto(f"{accounts_stack.api_url}/chat/{chat.thread_id}")
        expect(other.get_by_text("Ana's first question")).to_have_count(0)
    finally:
        context.close()

    page.get_by_test_id("sign-out").click()
    expect(page.get_by_test_id("sign-in-form")).to_be_visible()
    page.reload()
    expect(page.get_by_test_id("sign-in-form")).to_be_visible()

"""Live sessions in a real Chromium: approvals answered from the chat, messages queued while the agent
works, and Stop that keeps the reply. One module on the package's shared stack (the simulator asks
before a tool in the thread's permission mode, chosen here in the page as a person would)."""

from __future__ import annotations

import json
import urllib.request

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.chat_page import REPLY_TIMEOUT_MS, ChatPage, plain_words
from tests.browser.conftest import screenshot
from tests.stack import Stack

pytestmark = pytest.mark.browser


@pytest.fixture
def chat(page: Page, stack: Stack) -> ChatPage:
    return ChatPage(page, stack).open()


def thread_of(chat: ChatPage) -> dict[str, object]:
    with urllib.request.urlopen(f"{chat.stack.api_url}/threads/{chat.thread_id}", timeout=5) as response:
        thread: dict[str, object] = json.load(response)["thread"]
    return thread


def asking_thread(chat: ChatPage, first_message: str) -> None:
    """A new thread whose agent asks before it edits or runs anything, set with the page's select
    before its first message (which stores the thread with that mode)."""
    chat.new_thread()
    chat.page.get_by_test_id("permission-mode").select_option("default")
    expect(chat.page.get_by_test_id("permission-mode")).to_have_value("default")
    chat.send(first_message)
    assert thread_of(chat)["permissionMode"] == "default"
    expect(chat.page.get_by_test_id("permission-mode")).to_have_value("default")


def card(chat: ChatPage) -> Locator:
    return chat.reply().get_by_test_id("approval-card").last


def waiting_card(chat: ChatPage) -> Locator:
    found = card(chat)
    expect(found).to_have_attribute("data-decision", "waiting", timeout=REPLY_TIMEOUT_MS)
    return found


def queue(chat: ChatPage, text: str) -> None:
    """Send while a reply is written: the message waits in line."""
    chat.input.fill(text)
    chat.input.press("Enter")
    expect(chat.input).to_have_value("")
    expect(chat.page.locator('[data-status="queued"]', has_text=text)).to_be_visible()


def test_bash_edit_and_question_are_asked_in_the_chat_and_answered(chat: ChatPage) -> None:
    asking_thread(chat, "[[touch]] make the file")
    bash = waiting_card(chat)
    expect(bash.get_by_test_id("approval-command")).to_have_text("touch touched.txt")
    expect(bash.get_by_role("button", name="Allow always for this thread: Bash(touch touched.txt)")).to_be_visible()
    expect(chat.page).to_have_title("(Waiting for you) [[touch]] make the file · sandchat")
    chat.page.get_by_test_id("thread-dropdown-toggle").click()
    dropdown = chat.page.get_by_test_id("thread-dropdown")
    current = dropdown.locator(f'[data-testid=thread-item][data-thread-id="{chat.thread_id}"]')
    expect(current.get_by_test_id("thread-waiting")).to_have_text("Waiting for you")
    screenshot(chat.page, "approval-bash")
    chat.page.keyboard.press("Escape")
    bash.get_by_role("button", name="Allow once").click()
    expect(bash).to_have_attribute("data-decision", "allow")
    reply = chat.wait_reply()
    expect(reply.get_by_test_id("tool-block")).to_have_count(1)
    expect(chat.page).to_have_title("[[touch]] make the file · sandchat")

    chat.send("[[edit]] make it green")
    edit = waiting_card(chat)
    diff = edit.get_by_test_id("approval-diff")
    expect(diff.locator('[data-diff="removed"]')).to_have_text("- The button is blue.")
    expect(diff.locator('[data-diff="added"]')).to_have_text("+ The button is green.")
    screenshot(chat.page, "approval-edit")
    edit.get_by_label("Reason for denying (optional)").fill("keep it blue")
    edit.get_by_role("button", name="Deny").click()
    expect(edit).to_have_attribute("data-decision", "deny")
    chat.wait_reply()

    chat.send("[[ask]] pick a colour")
    question = waiting_card(chat)
    expect(question).to_contain_text("Which colour should the button be?")
    screenshot(chat.page, "approval-question")
    question.get_by_role("button", name="Green").click()
    question.get_by_role("button", name="Answer").click()
    expect(question).to_have_attribute("data-decision", "allow")
    chat.wait_reply()
    stored = chat.stored_messages()
    tools = stored[-1]["meta"]["tools"]  # type: ignore[index]
    assert '"Which colour should the button be?"="Green"' in tools[0]["output"]


def test_messages_sent_while_it_works_are_queued_and_removable(chat: ChatPage) -> None:
    chat.new_thread()
    chat.send("[[slow]] Tell me about the first thing")
    expect(chat.reply()).to_have_attribute("data-status", "streaming")
    expect(chat.page.get_by_test_id("stop-button")).to_be_visible()
    queue(chat, "then the second thing")
    queue(chat, "and a third thing")
    queued = chat.page.locator('[data-testid=message][data-status="queued"]')
    expect(queued.get_by_test_id("queue-position")).to_have_text(["Queued: starts next", "Queued: 2 in line"])
    screenshot(chat.page, "queued-messages")
    queued.last.get_by_role("button", name="Remove this queued message").click()
    expect(queued).to_have_count(1)
    chat.page.get_by_test_id("stop-button").click()  # the long reply ends, and the one left in line starts
    chat.wait_reply("cancelled", index=0)
    expect(chat.replies()).to_have_count(2, timeout=REPLY_TIMEOUT_MS)
    expect(chat.reply()).to_contain_text("You said: then the second thing", timeout=REPLY_TIMEOUT_MS)
    chat.wait_reply()
    expect(queued).to_have_count(0)
    expect(chat.user_messages()).to_have_text(["[[slow]] Tell me about the first thing", "then the second thing"])
    assert [m["content"] for m in chat.stored_messages() if m["role"] == "user"] == [
        "[[slow]] Tell me about the first thing",
        "then the second thing",
    ]


def test_stop_keeps_the_reply_and_the_next_message_streams(chat: ChatPage) -> None:
    chat.new_thread()
    chat.send("[[slow]] Tell me a long story")
    expect(chat.reply()).to_contain_text("You said:")
    expect(chat.input).to_be_enabled()
    expect(chat.page.get_by_test_id("send-button")).to_be_visible()
    chat.page.get_by_test_id("stop-button").click()
    stopped = chat.wait_reply("cancelled")
    expect(stopped.get_by_test_id("message-error")).to_have_text("Stopped")
    expect(chat.page.get_by_test_id("stop-button")).to_have_count(0)
    stored = chat.stored_messages()
    assert stored[-1]["status"] == "cancelled"
    assert chat.reply_text() == plain_words(str(stored[-1]["content"]))
    assert chat.reply_text().startswith("You said: [[slow]] Tell me a long story")

    chat.send("[[slow]] And now the next one")
    expect(chat.reply()).to_have_attribute("data-status", "streaming")
    samples = chat.watch_reply_until_done()
    assert samples, "the next reply should stream"
    chat.wait_reply()
    chat.assert_no_gaps_or_repeats(samples)
    expect(chat.reply(0)).to_have_attribute("data-status", "cancelled")


def test_an_approval_pending_across_a_reload_is_answered_once_in_every_tab(chat: ChatPage, page: Page) -> None:
    asking_thread(chat, "[[touch]] make the file again")
    thread_id = chat.thread_id
    waiting_card(chat)
    other = ChatPage(page.context.new_page(), chat.stack).open(f"/chat/{thread_id}")
    waiting_card(other)

    chat.page.reload()
    chat.wait_connected()
    again = waiting_card(chat)
    expect(chat.reply().get_by_test_id("approval-card")).to_have_count(1)
    again.get_by_role("button", name="Allow once").click()
    expect(again).to_have_attribute("data-decision", "allow")
    expect(card(other)).to_have_attribute("data-decision", "allow")
    expect(card(other).get_by_role("button")).to_have_count(0)
    chat.wait_reply()
    other.wait_reply()
    expect(chat.reply().get_by_test_id("approval-card")).to_have_count(1)
    expect(chat.reply().get_by_test_id("tool-block")).to_have_count(1)
    stored = chat.stored_messages()
    assert [t["name"] for t in stored[-1]["meta"]["tools"]] == ["Bash"]  # type: ignore[index]

"""Browser fixtures: Debian's Chromium driven by Playwright against the real stack (api, gateway, worker).

The stack is the one `make dev` runs (sandchat_dev.stack), on free ports, with the simulator as the agent.
Screenshots go to test-artifacts/screenshots/ (gitignored); look at them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, Playwright, ViewportSize, sync_playwright

from tests.stack import Stack, running_stack

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP: ViewportSize = {"width": 1440, "height": 900}
TABLET: ViewportSize = {"width": 768, "height": 1024}

# A reply streams 80 deltas in under a second; a test that acts while one streams (stops it, reloads,
# restarts the gateway, queues behind it) sends "[[slow]]", a reply of 200 deltas 50 ms apart.
SIMULATOR = {"SIMULATOR_TOKENS": "80", "SIMULATOR_DELAY_MS": "10"}


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.fail(f"Chromium is missing at {CHROMIUM}: install it with `apt-get install -y chromium` (.ci/run does)")
    return CHROMIUM


# Package scope, not session: Playwright's sync API keeps an event loop running in this thread
# while it is open, which would break every asyncio test that runs after the browser tests.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright, chromium_path: str) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


def _stack(redis_url: str, tmp: Path, **overrides: str) -> Iterator[Stack]:
    env = {
        "REDIS_URL": redis_url,
        # Two stacks on one Redis must not share a queue: each worker takes only its own turns.
        "REDIS_NAMESPACE": f"browser-{uuid.uuid4().hex[:8]}",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'sandchat.db'}",
        "AGENT_RUNNER": "simulator",
        "SIMULATOR_STATE_DIR": str(tmp / "simulator"),
        # People's agents work under the test's own directory; the simulator's login serves them all.
        "LOCAL_WORKSPACE": str(tmp / "workspace"),
        "AGENT_SHARED_LOGIN": "true",
        "SECRET_KEY": "browser-tests-secret-key-0123456789abcdef",
        **SIMULATOR,
        **overrides,
    }
    (tmp / "workspace").mkdir(exist_ok=True)
    with running_stack(1, 1, **env) as stack:
        yield stack


@pytest.fixture(scope="package")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """api + gateway + worker with the simulator, shared by the browser tests."""
    yield from _stack(redis_url, tmp_path_factory.mktemp("browser-stack"))


@pytest.fixture(scope="module")
def offline_stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack whose agent cannot be started at all (the CLI is missing): every turn is agent_offline."""
    tmp = tmp_path_factory.mktemp("offline-stack")
    yield from _stack(redis_url, tmp, AGENT_RUNNER="local", CLAUDE_BIN=str(tmp / "no-such-claude"))


AUTH_TOKEN = "browser-test-token"


@pytest.fixture(scope="module")
def auth_stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack that needs AUTH_TOKEN: the page asks for it once and opens the socket with tickets."""
    yield from _stack(redis_url, tmp_path_factory.mktemp("auth-stack"), AUTH_TOKEN=AUTH_TOKEN)


def watched_page(context: BrowserContext) -> Iterator[Page]:
    """A page of ``context`` that fails the test on any page error or dialog; the context is closed after."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def on_dialog(dialog: Dialog) -> None:
        errors.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    yield page
    context.close()
    assert errors == [], f"the page raised: {errors}"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    yield from watched_page(browser.new_context(viewport=DESKTOP))


def screenshot(page: Page, name: str) -> Path:
    """Save the viewport as test-artifacts/screenshots/<name>-<w>x<h>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size or DESKTOP
    path = SCREENSHOTS / f"{name}-{size['width']}x{size['height']}.png"
    page.screenshot(path=str(path))
    return path

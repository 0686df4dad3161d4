"""Browser fixtures: one demo server and one headless Chromium for the whole session.

Chromium is Debian's /usr/bin/chromium, driven through Playwright's sync API; every
test gets fresh browser contexts (own cookies) from ``login_as``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import stack
from tests.servers import PortalServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 800}
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
PASSWORDS = {"dev": "berth-dev", "qa": "berth-qa", "ops": "berth-ops", "admin": "berth-admin"}


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory, docker_host):
    server = PortalServer(tmp_path_factory.mktemp("browser-portal"), mode="embedded").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        problem = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
        if stack.IN_CI:
            pytest.fail(problem)
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def new_page(browser, demo_server):
    """``new_page()``: a page in a fresh context (no cookies), closed after the test."""
    contexts = []

    def make():
        context = browser.new_context(viewport=VIEWPORT, base_url=demo_server.url)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def log_in(page, username: str, password: str) -> None:
    page.goto("/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


@pytest.fixture
def login_as(new_page, demo_server):
    """``login_as("ops")``: a page logged in through the login form, on the dashboard."""

    def make(username: str):
        page = new_page()
        log_in(page, username, PASSWORDS[username])
        page.wait_for_url(f"{demo_server.url}/")
        return page

    return make


@pytest.fixture(scope="session")
def update_readme_screenshot() -> bool:
    """docs/screenshot.png is rewritten only on request, so a test run leaves the
    working tree clean: ``BERTH_README_SCREENSHOT=1``."""
    return os.environ.get("BERTH_README_SCREENSHOT", "") == "1"

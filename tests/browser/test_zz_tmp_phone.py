"""TEMPORARY (JS refactor check, to be deleted): phone-width screenshots of live pages."""

import uuid

import docker
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORDS, log_in
from tests.stack import TEST_IMAGE

pytestmark = [pytest.mark.browser, pytest.mark.integration]

TICKER = "echo started; i=0; while true; do printf '\\033[33mtick\\033[0m %05d\\n' $i; i=$((i+1)); sleep 0.2; done"


def test_phone_width(browser, demo_server, docker_host, artifacts):
    client = docker.DockerClient(base_url=docker_host, version="auto")
    container = client.containers.run(
        TEST_IMAGE, ["sh", "-c", TICKER], name=f"phone-{uuid.uuid4().hex[:6]}",
        labels={"berth.environment": "dev"}, network_mode="none", detach=True,
    )
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=demo_server.url)
    try:
        page = context.new_page()
        log_in(page, "dev", PASSWORDS["dev"])
        page.wait_for_url(f"{demo_server.url}/")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(artifacts / "tmp-phone-dashboard.png"), full_page=True)
        page.goto("/environments/dev/")
        expect(page.locator("[data-events-live]")).to_have_text("● updating live")
        page.screenshot(path=str(artifacts / "tmp-phone-environment.png"), full_page=True)
        page.goto(f"/environments/dev/containers/{container.id}/")
        expect(page.locator("[data-lv-state]")).to_have_text("● live")
        page.wait_for_timeout(1500)
        page.screenshot(path=str(artifacts / "tmp-phone-logs.png"))
        page.evaluate("window.berthLogViewer[0].disconnect()")
        expect(page.locator("[data-lv-state]")).to_contain_text("reconnecting in 1 s")
        page.screenshot(path=str(artifacts / "tmp-phone-logs-reconnecting.png"))
        expect(page.locator("[data-lv-state]")).to_have_text("● live", timeout=10_000)
        page.get_by_role("tab", name="Stats").click()
        expect(page.locator("[data-stats-state]")).to_contain_text("live", timeout=10_000)
        page.wait_for_timeout(4000)
        page.screenshot(path=str(artifacts / "tmp-phone-stats.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 800})
        page.wait_for_timeout(500)
        page.screenshot(path=str(artifacts / "tmp-desktop-stats.png"))
    finally:
        context.close()
        container.remove(force=True)
        client.close()

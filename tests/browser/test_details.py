"""The small things on the way: container buttons that follow the container's state,
a typed confirmation for a protected environment's replicas (the word shown as text,
not as a placeholder), a copy button for a new token and a message when one is revoked,
and a favicon instead of a 404."""

from __future__ import annotations

import re
import uuid

import docker
import pytest
from playwright.sync_api import expect

from environments.engine import LABEL_ENVIRONMENT
from tests import stack

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def running(docker_host):
    """``running("dev")``: a container of that environment, running ``sleep``."""
    engine = docker.DockerClient(base_url=docker_host, version="auto")
    made = []

    def make(environment: str):
        container = engine.containers.run(
            stack.TEST_IMAGE, ["sleep", "300"], detach=True, network_mode="none",
            name=f"details-{environment}-{uuid.uuid4().hex[:6]}",
            labels={LABEL_ENVIRONMENT: environment}, stop_signal="SIGKILL",
        )  # fmt: skip
        made.append(container)
        return container

    yield make
    for container in made:
        container.remove(force=True)
    engine.close()


def test_container_buttons_follow_the_state(login_as, running, artifacts):
    container = running("dev")
    page = login_as("dev")
    page.goto(f"/environments/dev/containers/{container.id}/")
    start = page.get_by_role("button", name="Start", exact=True)
    stop = page.get_by_role("button", name="Stop", exact=True)
    expect(start).to_be_disabled()
    expect(stop).to_be_enabled()
    assert float(start.evaluate("el => getComputedStyle(el).opacity")) < 0.6, "disabled looks it"
    page.once("dialog", lambda dialog: dialog.accept())
    stop.click()
    expect(page.locator(".container-actions [data-result]").nth(1)).to_contain_text("is exited")
    expect(stop).to_be_disabled()
    expect(start).to_be_enabled()
    start.click()
    expect(page.locator(".container-actions [data-result]").nth(2)).to_contain_text("is running")
    # The Stop message of a moment ago is gone: no "exited" beside a running container.
    expect(page.locator(".container-actions [data-result]").nth(1)).to_have_text("")
    expect(start).to_be_disabled()
    expect(stop).to_be_enabled()
    page.screenshot(path=str(artifacts / "container-buttons.png"))
    # The charts say what they measure, and why the network one is empty.
    page.get_by_role("tab", name="Stats").click()
    expect(page.locator("[data-net-note]")).to_contain_text("no network (mode none)")
    expect(page.locator("[data-stats-state]")).to_contain_text("live", timeout=15_000)
    page.wait_for_timeout(2500)
    page.screenshot(path=str(artifacts / "container-stats.png"), full_page=True)


def test_a_protected_replica_restarts_only_with_its_name_typed(login_as, running, artifacts):
    container = running("ops")
    page = login_as("ops")
    page.goto(f"/environments/ops/containers/{container.id}/")
    restart_form = page.locator(".container-actions form").first
    typed = restart_form.get_by_label("Type Ops to confirm")
    expect(typed).to_have_value("")
    assert typed.get_attribute("placeholder") is None, "the word is text, not a placeholder"
    expect(restart_form.locator(".typed-confirm strong")).to_have_text("Ops")
    restart_form.get_by_role("button", name="Restart").click()
    expect(restart_form.locator("[data-result]")).to_contain_text("type Ops in the confirmation")
    typed.fill("Ops")
    restart_form.get_by_role("button", name="Restart").click()
    expect(restart_form.locator("[data-result]")).to_contain_text("is running", timeout=20_000)
    page.screenshot(path=str(artifacts / "container-ops-typed-confirm.png"))


def test_a_new_token_can_be_copied_and_a_revoke_says_so(login_as, demo_server):
    page = login_as("dev")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=demo_server.url)
    page.goto("/profile/")
    page.get_by_label("Name").fill(f"ci-{uuid.uuid4().hex[:4]}")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token").inner_text().strip()
    page.get_by_role("button", name="Copy token").click()
    expect(page.locator("[data-copy-result]")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke").first.click()
    expect(page.locator("ul.messages")).to_contain_text("Token revoked.")


def test_no_page_asks_for_a_missing_favicon(login_as, demo_server):
    page = login_as("dev")
    missing = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    for path in ("/", "/services/", "/api/"):
        page.goto(path)
    response = page.request.get(f"{demo_server.url}/favicon.ico")
    assert response.ok and re.search(r"svg", response.headers["content-type"])
    assert missing == []

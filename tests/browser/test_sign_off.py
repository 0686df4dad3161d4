"""QA signs off the digest running in Test from the browser; the board shows it in Ops.
A developer sees the same digest but no button."""

import re
import uuid

import docker
import pytest
from playwright.sync_api import expect

from environments.engine import LABEL_ENVIRONMENT
from registry.client import RegistryClient
from tests import stack
from tests.registries import image_variant

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def running_in_test(docker_host, registry_url):
    """A digest of demo/app no test signed off yet (the stack's image with a new config
    label), pulled by digest from the registry and running in Test."""
    host = registry_url.split("://", 1)[1]
    client = RegistryClient(registry_url)
    latest = client.resolve("demo/app", "latest")
    digest = image_variant(client, "demo/app", latest, uuid.uuid4().hex).digest
    engine = docker.DockerClient(base_url=docker_host, version="auto")
    reference = f"{host}/demo/app@{digest}"
    engine.images.pull(reference)
    container = engine.containers.run(
        reference, ["sleep", "300"], detach=True, network_mode="none",
        name=f"demo-app-test-{uuid.uuid4().hex[:6]}", labels={LABEL_ENVIRONMENT: "test"},
    )  # fmt: skip
    yield digest
    container.remove(force=True)
    engine.close()


def test_qa_signs_off_in_test_and_the_board_shows_it_in_ops(login_as, running_in_test, artifacts):
    digest = running_in_test
    version = f"1.{uuid.uuid4().int % 10**6}.{uuid.uuid4().int % 10**6}"
    page = login_as("qa")
    page.goto("/environments/test/")
    item = page.locator(f'.deployed-item[data-digest="{digest}"]')
    expect(
        item.get_by_role("button", name=re.compile(r"Sign off demo.app \w+ and promote to Ops"))
    ).to_be_visible()
    item.locator("input[name=version]").fill(version)
    item.locator("input[name=note]").fill("smoke and regression passed")
    page.once("dialog", lambda dialog: dialog.accept())
    item.get_by_role("button", name=re.compile(r"Sign off demo.app \w+ and promote to Ops")).click()
    result = item.locator("[data-result]")
    expect(result).to_contain_text("Promoted to Ops", timeout=15_000)
    expect(result).to_contain_text("qa-passed")
    expect(result).to_contain_text(version)
    page.screenshot(path=str(artifacts / "sign-off-test.png"), full_page=True)
    page.wait_for_timeout(1000)  # the page reloads itself 600 ms after a sign-off

    page.goto("/promotions/")
    ops_cell = page.locator("tr", has=page.locator("th.repo", has_text="demo/app")).locator(
        'td[data-environment="ops"]'
    )
    expect(ops_cell).to_contain_text("promoted")
    expect(ops_cell).to_contain_text(version)
    expect(ops_cell).to_contain_text("by qa")
    expect(ops_cell.locator(".digest")).to_have_attribute("title", digest)
    page.screenshot(path=str(artifacts / "promotion-board.png"), full_page=True)
    assert RegistryClient(stack.REGISTRY_URL).resolve("demo/app", version) == digest


def test_a_refused_sign_off_shows_the_reason_in_place(login_as, running_in_test):
    page = login_as("qa")
    page.goto("/environments/test/")
    item = page.locator(f'.deployed-item[data-digest="{running_in_test}"]')
    item.locator("input[name=version]").evaluate("el => el.removeAttribute('required')")
    item.locator("input[name=version]").fill("-not-a-tag")
    page.once("dialog", lambda dialog: dialog.accept())
    item.get_by_role("button", name=re.compile("Sign off")).click()
    expect(item.locator("[data-result]")).to_contain_text("is not a valid tag")


def test_a_developer_sees_the_digest_in_test_but_no_sign_off_button(login_as, running_in_test):
    page = login_as("dev")
    page.goto("/environments/test/")
    item = page.locator(f'.deployed-item[data-digest="{running_in_test}"]')
    expect(item).to_contain_text("demo/app")
    expect(item.get_by_role("button", name=re.compile("Sign off"))).to_have_count(0)
    page.goto("/promotions/")
    expect(page.get_by_role("button", name=re.compile("Sign off"))).to_have_count(0)

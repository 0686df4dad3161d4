"""A pipeline run followed live in the browser and approved by ``qa`` from the
"waiting for you" list: deploy an already pushed digest to Test, wait for QA's
approval, promote. The run is started with the Run button of the pipeline page."""

import re
import uuid

import pytest
import requests
from playwright.sync_api import expect

from registry.client import RegistryClient
from tests.registries import image_variant
from tests.stack import remove_service_containers

pytestmark = [pytest.mark.browser, pytest.mark.integration]

IDLE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"]
SIZES = {"wide": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


def _api(server, username: str, password: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {server.token(username, password)}"
    return session


@pytest.fixture
def pipeline(demo_server, registry_url, docker_host):
    """A new service on demo/app configured in Test, a digest of its own, and a pipeline
    (home Test) deploying it, waiting for QA, promoting it."""
    admin = _api(demo_server, "admin", "berth-admin")
    url = demo_server.url
    name = f"pipe-{uuid.uuid4().hex[:6]}"
    service = admin.post(
        f"{url}/api/services/",
        json={"name": name, "registry": "local", "repository": "demo/app"},
        timeout=10,
    )
    assert service.status_code == 201, service.text
    admin.post(
        f"{url}/api/services/{service.json()['id']}/configs/",
        json={"environment": "test", "document": {
            "replicas": 1, "command": IDLE, "stop_grace_period": 1,
            "strategy": {"type": "recreate"},
        }},
        timeout=10,
    ).raise_for_status()  # fmt: skip
    client = RegistryClient(registry_url)
    digest = image_variant(client, "demo/app", client.resolve("demo/app", "latest"), name).digest
    version = f"2.{uuid.uuid4().int % 10**6}.{uuid.uuid4().int % 10**6}"
    text = (
        "stages:\n"
        "  - {name: deploy-test, kind: deploy, environment: test}\n"
        "  - {name: qa, kind: approval, environment: test}\n"
        f"  - {{name: promote, kind: promote, environment: test, version: '{version}'}}\n"
    )
    created = admin.post(
        f"{url}/api/pipelines/", json={"service": name, "name": "release", "text": text},
        timeout=10,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    yield {"id": created.json()["id"], "digest": digest, "service": name, "version": version}
    remove_service_containers(docker_host, name)


def _shot(page, artifacts, name):
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        page.screenshot(path=str(artifacts / f"pipeline-{name}-{size}.png"), full_page=True)
    page.set_viewport_size(SIZES["wide"])


def test_a_run_is_followed_live_and_approved_by_qa_from_waiting_for_you(
    login_as, pipeline, artifacts
):
    starter = login_as("admin")
    starter.set_viewport_size(SIZES["wide"])
    starter.goto(f"/pipelines/{pipeline['id']}/")
    # A bad definition is refused at its line and field, under the editor; nothing saved.
    editor = starter.locator("form.pipeline-definition")
    good = editor.locator("textarea[name=text]").input_value()
    editor.locator("textarea[name=text]").fill(good.replace("kind: approval", "kind: aproval"))
    editor.get_by_role("button", name="Save as a new revision").click()
    error = editor.locator(".field-error")
    expect(error).to_contain_text("line 3")
    expect(error).to_contain_text("kind")
    _shot(starter, artifacts, "definition-error")
    editor.locator("textarea[name=text]").fill(good)
    run_form = starter.locator("form.run-pipeline")
    run_form.locator("input[name=digest]").fill(pipeline["digest"])
    run_form.get_by_role("button", name="Run").click()
    starter.wait_for_url(re.compile(r"/pipeline-runs/\d+/$"))
    run_id = int(starter.url.rstrip("/").rsplit("/", 1)[1])
    expect(starter.locator("[data-run-live]")).to_have_text("live")
    deploy = starter.locator('.stage[data-stage="deploy-test"]')
    # Live: the deploy stage runs and succeeds, the approval waits, without a reload.
    expect(deploy.locator(".badge")).to_have_text("succeeded", timeout=90_000)
    qa_stage = starter.locator('.stage[data-stage="qa"]')
    expect(qa_stage.locator(".badge")).to_have_text("waiting for people", timeout=30_000)
    expect(starter.locator("[data-events] li").first).to_be_visible()
    # The starter's log pane shows the deploy's output, replayed.
    starter.locator('[data-show-log="deploy-test"]').click()
    expect(starter.locator("[data-log]")).not_to_be_empty()
    _shot(starter, artifacts, "waiting")

    # QA finds it in "waiting for you", on a phone first: the menu, then the list.
    qa = login_as("qa")
    qa.set_viewport_size(SIZES["phone"])
    qa.reload()
    qa.get_by_role("button", name="Menu").click()
    waiting = qa.locator(".waiting-menu")
    expect(waiting.locator("[data-waiting-count]")).to_have_text(re.compile(r"[1-9]\d*"))
    waiting.locator("summary").click()
    item = waiting.locator(f'a[data-waiting-run="{run_id}"]')
    expect(item).to_contain_text("Approve qa")
    qa.screenshot(path=str(artifacts / "pipeline-waiting-list-phone.png"), full_page=True)
    item.click()
    qa.wait_for_url(re.compile(rf"/pipeline-runs/{run_id}/$"))
    qa.set_viewport_size(SIZES["wide"])
    decision = qa.locator('.stage[data-stage="qa"] form.decide')
    decision.locator("input[name=note]").fill("smoke passed")
    decision.get_by_role("button", name="Approve").click()
    # The decider's graph redraws at once (the form gone, the approval shown): the note
    # typed into the form does not hold the redraw back once it is sent.
    expect(qa.locator('.stage[data-stage="qa"] .approvals')).to_contain_text(
        "approved by qa", timeout=15_000
    )

    # The starter's page follows: the approval is recorded, the promote runs, the run ends.
    expect(starter.locator(".run-summary [data-status]")).to_have_text("succeeded", timeout=60_000)
    expect(qa_stage.locator(".approvals")).to_contain_text("approved by qa")
    expect(qa_stage.locator(".approvals")).to_contain_text("smoke passed")
    expect(starter.locator('.stage[data-stage="promote"]')).to_contain_text("qa-passed")
    expect(qa.locator("[data-waiting-count]")).to_have_text("0", timeout=10_000)
    _shot(starter, artifacts, "succeeded")


def test_from_the_service_page_a_run_is_cancelled_retried_and_rerun(
    login_as, demo_server, registry_url, artifacts
):
    """The service page links to its pipelines and to a new one; a running run is
    cancelled, a failed stage retried (a new attempt), and the run re-run."""
    admin = _api(demo_server, "admin", "berth-admin")
    name = f"flow-{uuid.uuid4().hex[:6]}"
    admin.post(
        f"{demo_server.url}/api/services/",
        json={"name": name, "registry": "local", "repository": "demo/app"}, timeout=10,
    ).raise_for_status()  # fmt: skip
    digest = RegistryClient(registry_url).resolve("demo/app", "latest")
    page = login_as("admin")
    page.set_viewport_size(SIZES["wide"])
    page.goto(f"/services/{name}/")
    page.locator("[data-new-pipeline]").click()
    page.wait_for_url(re.compile(rf"/pipelines/\?service={name}#new-pipeline$"))
    form = page.locator("form.new-pipeline")
    expect(form.locator("input[name=service]")).to_have_value(name)
    form.locator("input[name=name]").fill("checks")
    form.locator("textarea[name=text]").fill(
        "stages:\n"
        "  - {name: wait, kind: test, environment: dev, command: 'sleep 30'}\n"
        "  - {name: check, kind: test, environment: dev, command: 'echo checking; exit 1'}\n"
    )
    form.get_by_role("button", name="Create pipeline").click()
    expect(form.locator("[data-secret]")).to_be_visible()
    _shot(page, artifacts, "new-from-service")
    page.goto(f"/services/{name}/")
    page.locator("[data-service-pipelines]").click()
    page.get_by_role("link", name="checks").click()
    page.wait_for_url(re.compile(r"/pipelines/\d+/$"))
    pipeline_url = page.url

    # Cancel a running run: its test container stops, the run ends cancelled.
    run_form = page.locator("form.run-pipeline")
    run_form.locator("input[name=digest]").fill(digest)
    run_form.get_by_role("button", name="Run").click()
    page.wait_for_url(re.compile(r"/pipeline-runs/\d+/$"))
    wait_stage = page.locator('.stage[data-stage="wait"]')
    expect(wait_stage.locator(".badge")).to_have_text("running", timeout=30_000)
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator(".run-summary [data-status]")).to_have_text("cancelled", timeout=30_000)
    expect(wait_stage.locator(".badge")).to_have_text("cancelled")
    _shot(page, artifacts, "cancelled")

    # A run whose check fails: retry the stage (attempt 2), then re-run the whole run.
    definition = page.goto(pipeline_url)
    assert definition.ok
    editor = page.locator("form.pipeline-definition")
    editor.locator("textarea[name=text]").fill(
        "stages:\n  - {name: check, kind: test, environment: dev, command: 'echo checking; exit 1'}\n"
    )
    with page.expect_navigation():  # saved: the page reloads with the new revision
        editor.get_by_role("button", name="Save as a new revision").click()
    run_form.locator("input[name=digest]").fill(digest)
    run_form.get_by_role("button", name="Run").click()
    page.wait_for_url(re.compile(r"/pipeline-runs/\d+/$"))
    first_run = page.url
    check = page.locator('.stage[data-stage="check"]')
    expect(page.locator(".run-summary [data-status]")).to_have_text("failed", timeout=60_000)
    expect(check).to_contain_text("exited with code 1")
    page.get_by_role("button", name="Retry check").click()
    expect(check).to_contain_text("attempt 2", timeout=60_000)
    expect(page.locator(".run-summary [data-status]")).to_have_text("failed", timeout=60_000)
    _shot(page, artifacts, "retried")
    page.get_by_role("button", name="Re-run").click()
    page.wait_for_url(lambda url: re.search(r"/pipeline-runs/\d+/$", url) and url != first_run)
    expect(page.locator(".run-summary [data-status]")).to_have_text("failed", timeout=60_000)
    page.set_viewport_size(SIZES["phone"])
    page.screenshot(path=str(artifacts / "pipeline-rerun-phone.png"), full_page=True)

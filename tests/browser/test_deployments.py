"""Deployments in a real browser, against Berth's server with the embedded worker on the real
engine: a developer saves a config and deploys to Dev from the service page, then
watches the deployment page fill live over the websocket; an operator deploying to the
protected Ops must type its name, and the API's refusal (not promoted) shows in place.

Screenshots land in tests/artifacts/ for a human to look at.
"""

from __future__ import annotations

import json
import re
import uuid
from types import SimpleNamespace

import docker
import pytest
import requests
from playwright.sync_api import expect

from environments.engine import LABEL_SERVICE
from registry.client import RegistryClient
from tests.registries import image_variant
from tests.stack import free_port_base

pytestmark = [pytest.mark.browser, pytest.mark.integration]

DEPLOY_TIMEOUT = 60_000
_BAR_IS_FULL = """() => {
  const bar = document.querySelector("[data-progress]");
  return bar.querySelector(".fill").getBoundingClientRect().width >= bar.clientWidth - 1;
}"""


def _document(port: int, replicas: int = 2) -> dict:
    return {
        "replicas": replicas,
        "command": [
            "sh", "-c",
            "busybox mkdir -p /www && echo ok > /www/health && exec httpd -f -p 127.0.0.1:$PORT -h /www",
        ],
        "port": port,
        "health_check": {"http_path": "/health", "interval": 0.5, "timeout": 1, "retries": 2},
        "strategy": {"type": "rolling"},
    }  # fmt: skip


def _api(server, username: str, password: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {server.token(username, password)}"
    return session


@pytest.fixture(scope="module")
def service(demo_server, registry_url, docker_host):
    """A new service on demo/app, created by dev through the API, with two digests of its
    own (variants of the stack's image: runnable, and never promoted anywhere)."""
    name = f"web-{uuid.uuid4().hex[:6]}"
    dev = _api(demo_server, "dev", "berth-dev")
    response = dev.post(
        f"{demo_server.url}/api/services/",
        json={"name": name, "registry": "local", "repository": "demo/app"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    client = RegistryClient(registry_url)
    base = client.resolve("demo/app", "latest")
    digests = [image_variant(client, "demo/app", base, f"{name}-{n}").digest for n in (1, 2)]
    yield SimpleNamespace(
        name=name, id=response.json()["id"], digests=digests,
        port=free_port_base(),
    )  # fmt: skip
    engine = docker.DockerClient(base_url=docker_host, version="auto")
    try:
        for container in engine.containers.list(
            all=True, filters={"label": f"{LABEL_SERVICE}={name}"}
        ):
            container.remove(force=True)
        if engine.info().get("Swarm", {}).get("ControlAvailable"):
            for swarm_service in engine.services.list(filters={"label": f"{LABEL_SERVICE}={name}"}):
                swarm_service.remove()
    finally:
        engine.close()


def _wait_until_finished(page, status: str = "succeeded") -> None:
    page.wait_for_url(re.compile(r"/deployments/\d+/$"))
    expect(page.locator("[data-status]")).to_have_text(status, timeout=DEPLOY_TIMEOUT)
    if status == "succeeded":
        expect(page.get_by_role("progressbar", name="Deployment progress")).to_have_attribute(
            "aria-valuenow", "100"
        )


def test_a_developer_saves_a_config_and_deploys_to_dev_live(login_as, service, artifacts):
    page = login_as("dev")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Services").click()
    page.get_by_role("link", name=service.name).click()
    panel = page.locator("#env-dev")
    expect(panel.locator("form[data-config-form][data-ready]")).to_be_attached()
    panel.get_by_role("tab", name="JSON").click()
    editor = panel.locator("textarea[name=document]")
    result = panel.locator(".config-editor [data-result]")
    save = panel.get_by_role("button", name="Save revision")

    editor.fill("{ not json")
    save.click()
    expect(result).to_contain_text("document: not valid JSON")
    editor.fill(json.dumps({**_document(service.port), "replicas": "two", "colour": "red"}))
    save.click()
    expect(result).to_contain_text("replicas: Use a whole number")
    expect(result).to_contain_text("colour: Unknown field.")

    editor.fill(json.dumps(_document(service.port), indent=2))
    panel.get_by_label("Comment").fill("first config")
    save.click()
    expect(result).to_contain_text("Saved revision 1.")
    expect(panel).to_contain_text("Revision 1 by dev", timeout=10_000)  # after the reload

    frames = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(json.loads(f))))
    panel.locator("input[name=digest]").fill(service.digests[0])
    panel.get_by_role("button", name="Deploy to Dev").click()
    page.wait_for_url(re.compile(r"/deployments/\d+/$"))
    bar = page.get_by_role("progressbar", name="Deployment progress")
    expect(bar).to_have_attribute("aria-valuenow", "100", timeout=DEPLOY_TIMEOUT)
    expect(page.locator("[data-status]")).to_have_text("succeeded", timeout=DEPLOY_TIMEOUT)
    expect(page.locator("[data-outcome]")).to_contain_text("Deployment succeeded in")
    expect(page.locator("[data-live]")).to_be_empty()  # no longer following
    page.wait_for_function(_BAR_IS_FULL)  # drawn full, not only labelled 100 %
    steps = page.locator("[data-steps]")
    for text in ("Queued", "Image ready", "Replica 2 of 2 is healthy", "Deployment succeeded"):
        expect(steps).to_contain_text(text)
    expect(page.locator("[data-replicas] li")).to_have_count(2)
    expect(page.locator("[data-replicas] .badge")).to_have_text(["healthy", "healthy"])
    # Each replica links to its container page (the live events name the container).
    replica_links = page.locator("[data-replicas] a")
    expect(replica_links).to_have_count(2)
    assert "/environments/dev/containers/" in (replica_links.first.get_attribute("href") or "")
    assert frames and frames[0]["type"] == "snapshot", frames[:1]
    live_seqs = [f["event"]["seq"] for f in frames if f["type"] == "event"]
    assert len(live_seqs) == len(set(live_seqs)), f"an event came twice: {live_seqs}"
    seqs = page.locator("[data-steps] li").evaluate_all("items => items.map(i => i.dataset.seq)")
    assert len(seqs) == len(set(seqs)), f"a step shows twice: {seqs}"
    page.screenshot(path=str(artifacts / "deployment-dev.png"), full_page=True)

    page.get_by_role("link", name=f"{service.name} in Dev").click()
    row = page.locator("#env-dev table.history tbody tr").first
    expect(row).to_contain_text(service.digests[0][7:19])
    expect(row).to_contain_text("succeeded")
    expect(row).to_contain_text("dev")


def test_the_deployments_and_containers_lists_show_what_ran(login_as, service, artifacts):
    """After the deploy above: /deployments/ lists them with links, filters by status,
    and the environment page's containers list the replicas with their ports."""
    for size in ({"width": 1440, "height": 900}, {"width": 390, "height": 844}):
        page = login_as("dev")
        page.set_viewport_size(size)
        page.goto("/deployments/")
        rows = page.locator("table.deployments tbody tr[data-deployment]")
        expect(rows.first).to_be_visible()
        expect(rows.first.get_by_role("link", name=service.name)).to_be_visible()
        page.screenshot(
            path=str(artifacts / f"deployments-list-{size['width']}.png"), full_page=True
        )
        page.goto("/deployments/?status=succeeded&environment=dev")
        expect(rows.first.locator(".badge")).to_have_text("succeeded")
        page.goto(f"/environments/dev/?service={service.name}&state=running")
        table = page.locator("#containers table.containers")
        expect(table.locator("tbody tr[data-container]").first).to_be_visible(timeout=15_000)
        expect(table).to_contain_text(f"{service.port}/tcp")
        expect(table.locator("details summary").first).to_contain_text("labels")
        page.screenshot(
            path=str(artifacts / f"containers-list-{size['width']}.png"), full_page=True
        )


def test_a_developer_scales_and_rolls_back_from_the_service_page(
    login_as, demo_server, service, artifacts
):
    dev = _api(demo_server, "dev", "berth-dev")
    url = demo_server.url
    if not dev.get(f"{url}/api/services/{service.id}/configs/", timeout=10).json():
        dev.post(
            f"{url}/api/services/{service.id}/configs/",
            json={"environment": "dev", "document": _document(service.port)},
            timeout=10,
        ).raise_for_status()
    for digest in service.digests:  # two successful deployments, so there is a way back
        created = dev.post(
            f"{url}/api/deployments/",
            json={"service": service.name, "environment": "dev", "digest": digest},
            timeout=10,
        )
        assert created.status_code == 202, created.text
        page = login_as("dev")
        page.goto(f"/deployments/{created.json()['id']}/")
        _wait_until_finished(page)
        page.context.close()

    page = login_as("dev")
    page.goto(f"/services/{service.name}/")
    panel = page.locator("#env-dev")
    panel.locator("input[name=replicas]").fill("1")
    panel.get_by_role("button", name="Scale").click()
    _wait_until_finished(page)
    expect(page.locator("[data-replicas] li")).to_have_count(1)

    page.goto(f"/services/{service.name}/?env=dev&rev=2#env-dev")
    panel = page.locator("#env-dev")
    expect(panel.locator("pre.diff .add")).to_contain_text(['"replicas": 1'])
    expect(panel).to_contain_text("scale to 1")
    page.once("dialog", lambda dialog: dialog.accept())
    rollback = panel.get_by_role("button", name=re.compile(r"^Roll back to #\d+$"))
    rollback.click()
    _wait_until_finished(page)
    expect(page.locator(".figures")).to_contain_text("rollback of")
    expect(page.locator(".deployment .lead")).to_contain_text(service.digests[1])
    page.screenshot(path=str(artifacts / "deployment-rollback.png"), full_page=True)
    page.get_by_role("link", name=f"{service.name} in Dev").click()
    page.screenshot(path=str(artifacts / "service-dev.png"), full_page=True)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Services").click()
    cell = page.locator(f'tr[data-service="{service.name}"] li[data-environment="dev"]')
    expect(cell.locator(".badge")).to_have_text("succeeded")
    page.screenshot(path=str(artifacts / "services-dev.png"), full_page=True)


def test_ops_must_type_the_environment_name_and_sees_the_promotion_refusal(
    login_as, demo_server, service, artifacts
):
    ops = _api(demo_server, "ops", "berth-ops")
    saved = ops.post(
        f"{demo_server.url}/api/services/{service.id}/configs/",
        json={"environment": "ops", "document": _document(free_port_base())},
        timeout=10,
    )
    assert saved.status_code == 201, saved.text
    page = login_as("ops")
    posted = []
    page.on(
        "request",
        lambda r: posted.append(r.url) if r.method == "POST" and "/api/" in r.url else None,
    )
    page.goto(f"/services/{service.name}/")
    panel = page.locator("#env-ops")
    expect(page.locator("#env-dev").get_by_role("button", name="Deploy to Dev")).to_have_count(0)
    form = panel.locator("form.deploy")
    form.locator("input[name=digest]").fill(service.digests[0])
    result = form.locator("[data-result]")
    deploy = form.get_by_role("button", name="Deploy to Ops")

    deploy.click()
    expect(result).to_have_text("Ops is protected: type Ops in the confirmation box to go ahead.")
    panel.screenshot(path=str(artifacts / "deploy-ops-refused.png"))
    form.get_by_label("Type Ops to confirm").fill("ops")
    deploy.click()
    expect(result).to_contain_text("Ops is protected")
    assert posted == [], "a refused confirmation must not reach the API"

    form.get_by_label("Type Ops to confirm").fill("Ops")
    deploy.click()
    expect(result).to_contain_text(
        f"digest: Ops only runs digests promoted into it: sign off {service.digests[0][:19]}…"
    )
    assert posted == [f"{demo_server.url}/api/deployments/"]
    assert re.search(r"/services/[\w-]+/$", page.url), "a refused deploy stays on the page"
    page.screenshot(path=str(artifacts / "deploy-ops-confirm.png"), full_page=True)


def test_a_failed_deployment_shows_its_reason(login_as, service, artifacts):
    page = login_as("dev")
    page.goto(f"/services/{service.name}/")
    panel = page.locator("#env-dev")
    broken = {**_document(service.port), "command": ["sh", "-c", "echo port taken >&2; exit 3"]}
    panel.get_by_role("tab", name="JSON").click()
    panel.locator("textarea[name=document]").fill(json.dumps(broken, indent=2))
    panel.get_by_label("Comment").fill("a command that exits")
    panel.get_by_role("button", name="Save revision").click()
    expect(panel.locator(".config-editor [data-result]")).to_contain_text("Saved revision")
    expect(panel).to_contain_text("a command that exits", timeout=10_000)  # after the reload
    panel.locator("input[name=digest]").fill(service.digests[0])
    panel.get_by_role("button", name="Deploy to Dev").click()
    _wait_until_finished(page, "failed")
    outcome = page.locator("[data-outcome]")
    expect(outcome).to_have_class(re.compile(r"\berror\b"))
    expect(outcome).to_contain_text("Deployment failed: Replica 1 of 2 exited with code 3")
    expect(outcome).to_contain_text("port taken")
    expect(page.locator("[data-progress]")).to_have_class(re.compile(r"\bfailed\b"))
    page.screenshot(path=str(artifacts / "deployment-failed.png"), full_page=True)

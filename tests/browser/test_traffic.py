"""The service page shows each entry point and its backends, live during a deployment,
against Berth's server with the embedded worker and its supervised HAProxy on the real engine.
Screenshots (desktop and phone) land in tests/artifacts/ for a human to look at."""

from __future__ import annotations

import os
import signal
import time
import uuid

import docker
import pytest
import requests
from playwright.sync_api import expect

from environments.engine import LABEL_SERVICE
from environments.proxy import ProxyProcess
from registry.client import RegistryClient
from tests.registries import image_variant
from tests.stack import free_port, free_port_base

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def _api(server, username: str, password: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {server.token(username, password)}"
    return session


# Each replica serves its VERSION at / and "ok" at /health.
VERSIONED_HTTP = [
    "sh",
    "-c",
    "busybox mkdir -p /www && echo ok > /www/health && echo $VERSION > /www/index.html"
    " && exec httpd -f -p 127.0.0.1:$PORT -h /www",
]


def _service_with_two_digests(server, registry_url: str, prefix: str):
    """A new service of demo/app created by dev through the API, and two pushed variants
    of its image: ``(dev's API session, name, service id, [digest 1, digest 2])``."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    dev = _api(server, "dev", "berth-dev")
    created = dev.post(
        f"{server.url}/api/services/",
        json={"name": name, "registry": "local", "repository": "demo/app"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    client = RegistryClient(registry_url)
    base = client.resolve("demo/app", "latest")
    digests = [image_variant(client, "demo/app", base, f"{name}-{n}").digest for n in (1, 2)]
    return dev, name, created.json()["id"], digests


def test_the_service_page_shows_the_entry_point_and_its_backends_during_a_deploy(
    login_as, demo_server, registry_url, docker_host, artifacts
):
    dev, name, service_id, digests = _service_with_two_digests(demo_server, registry_url, "shop")
    url = demo_server.url
    entry = free_port()
    document = {
        "replicas": 3,
        "command": VERSIONED_HTTP,
        "env": {"VERSION": "v1"},
        "port": free_port_base(),
        "health_check": {"http_path": "/health", "interval": 0.5, "timeout": 1, "retries": 2,
                         "start_period": 1},
        "stop_grace_period": 1,
        "strategy": {"type": "rolling", "drain_timeout": 2},
        "entry_points": [{"port": entry}],
    }  # fmt: skip
    engine = docker.DockerClient(base_url=docker_host, version="auto")
    try:
        for version, digest in zip(("v1", "v2"), digests, strict=True):
            saved = dev.post(
                f"{url}/api/services/{service_id}/configs/",
                json={"environment": "dev", "document": {**document, "env": {"VERSION": version}}},
                timeout=10,
            )  # fmt: skip
            assert saved.status_code == 201, saved.text
            if version == "v2":  # watch the second deployment live
                page = login_as("dev")
                page.goto(f"/services/{name}/#env-dev")
                panel = page.locator("#env-dev .traffic")
                expect(panel.locator("[data-entry-url]")).to_have_text(f"http://127.0.0.1:{entry}/")
                expect(panel.locator("[data-backends] tr")).to_have_count(3)
            deployment = dev.post(
                f"{url}/api/deployments/",
                json={"service": name, "environment": "dev", "digest": digest}, timeout=10,
            )  # fmt: skip
            assert deployment.status_code == 202, deployment.text
            if version == "v2":
                # The table follows the deployment: a new replica joins beside the old.
                expect(panel.locator("[data-backends] tr")).to_have_count(4, timeout=30_000)
                expect(panel.locator("[data-backends]")).to_contain_text("ready")
                page.set_viewport_size({"width": 1440, "height": 900})
                page.screenshot(path=str(artifacts / "traffic-during-deploy.png"), full_page=False)
                page.set_viewport_size({"width": 390, "height": 844})
                panel.scroll_into_view_if_needed()
                page.screenshot(path=str(artifacts / "traffic-during-deploy-phone.png"))
                page.set_viewport_size({"width": 1440, "height": 900})
            finished = None
            for _ in range(300):
                finished = dev.get(f"{url}/api/deployments/{deployment.json()['id']}/", timeout=10)
                if finished.json()["status"] not in ("pending", "running"):
                    break
                time.sleep(0.2)
            assert finished.json()["status"] == "succeeded", finished.json()["reason"]
            answer = requests.get(f"http://127.0.0.1:{entry}/", timeout=5)
            assert answer.text.strip() == version
        expect(panel.locator("[data-backends] tr")).to_have_count(3, timeout=10_000)
        rows = panel.locator("[data-backends] tr")
        for index in range(3):
            expect(rows.nth(index)).to_contain_text("ready")
            expect(rows.nth(index)).to_contain_text("UP")
        page.screenshot(path=str(artifacts / "traffic-after-deploy.png"), full_page=False)

        # The proxy dies: the server's supervisor starts it again from Berth's records.
        proxy = ProxyProcess(demo_server.workdir / "proxy")
        killed = proxy.pid()
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{entry}/", timeout=1).text.strip() == "v2":
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "the proxy did not come back within 10 s"
            time.sleep(0.1)
        assert proxy.pid() not in (None, killed)
        expect(panel.locator("[data-proxy]")).to_have_text("proxy up")
        expect(panel.locator("[data-backends] tr")).to_have_count(3)
    finally:
        for container in engine.containers.list(
            all=True, filters={"label": f"{LABEL_SERVICE}={name}"}
        ):
            container.remove(force=True)
        engine.close()


def _finished(session: requests.Session, url: str, deployment_id: int) -> dict:
    for _ in range(600):
        body = session.get(f"{url}/api/deployments/{deployment_id}/", timeout=10).json()
        if body["status"] not in ("pending", "running"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"deployment {deployment_id} did not finish")


def test_blue_green_shows_both_colours_live_and_switch_back_on_the_deployment_page_flips_them(
    login_as, demo_server, registry_url, docker_host, artifacts
):
    dev, name, service_id, digests = _service_with_two_digests(demo_server, registry_url, "bg")
    url = demo_server.url
    entry = free_port()
    document = {
        "replicas": 2,
        "command": VERSIONED_HTTP,
        "port": free_port_base(),
        "health_check": {"http_path": "/health", "interval": 0.5, "timeout": 1, "retries": 2,
                         "start_period": 1},
        "stop_grace_period": 1,
        "strategy": {"type": "blue-green", "keep_old_for": 600, "drain_timeout": 1},
        "entry_points": [{"port": entry}],
    }  # fmt: skip
    engine = docker.DockerClient(base_url=docker_host, version="auto")
    try:
        page = None
        for version, digest in zip(("v1", "v2"), digests, strict=True):
            saved = dev.post(
                f"{url}/api/services/{service_id}/configs/",
                json={"environment": "dev", "document": {**document, "env": {"VERSION": version}}},
                timeout=10,
            )  # fmt: skip
            assert saved.status_code == 201, saved.text
            started = dev.post(
                f"{url}/api/deployments/",
                json={"service": name, "environment": "dev", "digest": digest}, timeout=10,
            )  # fmt: skip
            assert started.status_code == 202, started.text
            if version == "v1":
                assert _finished(dev, url, started.json()["id"])["status"] == "succeeded"
                continue
            # Followed live on the deployment page: the green colour joins beside blue.
            page = login_as("dev")
            page.set_viewport_size({"width": 1440, "height": 900})
            page.goto(f"/deployments/{started.json()['id']}/")
            panel = page.locator(".traffic")
            expect(panel.locator("[data-entry-url]")).to_have_text(f"http://127.0.0.1:{entry}/")
            expect(panel.locator("[data-backends] tr")).to_have_count(4, timeout=60_000)
            # Once it succeeded the page offers to switch back while blue is kept.
            button = page.get_by_role("button", name="Switch back")
            expect(button).to_be_visible(timeout=60_000)
        rows = panel.locator("[data-backends] tr")
        expect(panel.locator("[data-backends] tr.state-ready")).to_have_count(2)
        expect(panel.locator("[data-backends] tr.state-maint")).to_have_count(2)
        for index in range(4):
            colour = "green" if "ready" in rows.nth(index).inner_text() else "blue"
            expect(rows.nth(index)).to_contain_text(colour)
        assert requests.get(f"http://127.0.0.1:{entry}/", timeout=5).text.strip() == "v2"
        page.screenshot(path=str(artifacts / "traffic-blue-green-kept.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        button.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "traffic-blue-green-kept-phone.png"))

        asked = []
        page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
        button.click()
        expect(page.locator("[data-status]")).to_have_text("cancelled", timeout=15_000)
        assert asked and "back to the previous version" in asked[0], asked
        # Blue serves again; green left the rotation (and is retired soon after).
        expect(panel.locator("[data-backends] tr.state-ready")).to_have_count(2)
        for index in range(panel.locator("[data-backends] tr.state-ready").count()):
            expect(panel.locator("[data-backends] tr.state-ready").nth(index)).to_contain_text(
                "blue"
            )
        assert requests.get(f"http://127.0.0.1:{entry}/", timeout=5).text.strip() == "v1"
        expect(page.get_by_role("button", name="Switch back")).to_have_count(0)
        page.screenshot(path=str(artifacts / "traffic-switched-back-phone.png"))
        page.set_viewport_size({"width": 1440, "height": 900})
        page.screenshot(path=str(artifacts / "traffic-switched-back.png"), full_page=True)
    finally:
        for container in engine.containers.list(
            all=True, filters={"label": f"{LABEL_SERVICE}={name}"}
        ):
            container.remove(force=True)
        engine.close()

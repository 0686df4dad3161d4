"""The page frame and every page in a real browser, at 1440x900 and 390x844, light and
dark: no page wider than the viewport and no table scrolling sideways (they reflow on a
phone), the navigation collapsing behind a menu button usable from the keyboard, the
theme toggle remembered, and axe-core (vendored under tests/browser/vendor/) finding no
serious or critical violation on the login page, every list page, every detail page
(service, deployment, container, image, pipeline, run) and a 404.

Screenshots: tests/artifacts/frame-<page>-<width>-<scheme>.png.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from registry.client import RegistryClient
from tests.browser.conftest import PASSWORDS, log_in
from tests.stack import remove_service_containers

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
SIZES = {"1440": {"width": 1440, "height": 900}, "390": {"width": 390, "height": 844}}
SCHEMES = ("light", "dark")
IDLE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"]
LIST_PAGES = {
    "dashboard": "/",
    "services": "/services/",
    "deployments": "/deployments/",
    "board": "/promotions/",
    "images": "/images/",
    "audit": "/audit/",
    "environment": "/environments/dev/",
    "access": "/environments/dev/access/",
    "pipelines": "/pipelines/",
    "help": "/help/",
    "tokens": "/profile/",
    "not-found": "/services/no-such-service/",
}


@pytest.fixture(scope="module")
def objects(demo_server, registry_url, docker_host):
    """Something on every detail page: a service configured and deployed in Dev (so a
    deployment and a container), the registry read (an image), a pipeline and a run of
    it waiting for an approval. Made through the API as admin; the container removed."""
    session = requests.Session()
    session.headers["Authorization"] = f"Token {demo_server.token('admin', 'berth-admin')}"
    url = demo_server.url
    name = f"frame-{uuid.uuid4().hex[:6]}"

    def post(path: str, body: dict) -> dict:
        response = session.post(f"{url}{path}", json=body, timeout=10)
        assert response.status_code in (200, 201, 202), f"{path}: {response.text}"
        return response.json()

    service = post("/api/services/", {"name": name, "registry": "local", "repository": "demo/app"})
    post(f"/api/services/{service['id']}/configs/", {"environment": "dev", "document": {
        "replicas": 1, "command": IDLE, "stop_grace_period": 1,
        "strategy": {"type": "recreate"},
    }})  # fmt: skip
    digest = RegistryClient(registry_url).resolve("demo/app", "latest")
    deployment = post(
        "/api/deployments/", {"service": name, "environment": "dev", "digest": digest}
    )
    registry = session.get(f"{url}/api/registries/", timeout=10).json()["results"][0]
    post(f"/api/registries/{registry['id']}/refresh/", {})
    pipeline = post("/api/pipelines/", {"service": name, "name": "frame", "text": (
        "stages:\n  - {name: qa, kind: approval, environment: dev}\n"
    )})  # fmt: skip
    run = post(f"/api/pipelines/{pipeline['id']}/run/", {"digest": digest})
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        status = session.get(f"{url}/api/deployments/{deployment['id']}/", timeout=10).json()
        images = session.get(f"{url}/api/images/", params={"repository": "demo/app"}, timeout=10)
        found = [i for i in images.json()["results"] if i["digest"] == digest]
        if status["status"] not in ("queued", "running") and found:
            break
        time.sleep(0.5)
    assert status["status"] == "succeeded", status
    assert found, "the registry was never read"
    pages = {
        "service": f"/services/{name}/",
        "deployment": f"/deployments/{deployment['id']}/",
        "image": f"/images/{found[0]['id']}/",
        "pipeline": f"/pipelines/{pipeline['id']}/",
        "run": f"/pipeline-runs/{run['id']}/",
    }
    yield pages
    remove_service_containers(docker_host, name)


def _page(browser, demo_server, size: str, scheme: str, user: str = "dev"):
    context = browser.new_context(
        viewport=SIZES[size], base_url=demo_server.url, color_scheme=scheme
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    log_in(page, user, PASSWORDS[user])
    page.wait_for_url(f"{demo_server.url}/")
    return context, page


def _settle(page) -> None:
    """Fragments being swapped in are drawn faded (aria-busy): wait for 500 ms without one,
    since a live fragment may reload at any time (a probe arrives)."""
    page.evaluate(
        "async () => {"
        "  for (let quiet = 0; quiet < 5;) {"
        "    await new Promise(r => setTimeout(r, 100));"
        "    quiet = document.querySelector('[aria-busy=true]') ? 0 : quiet + 1;"
        "  }}"
    )


def _serious(page) -> list[str]:
    """axe's serious and critical violations. A live fragment swapped in while axe runs
    is drawn faded (aria-busy) and would fail contrast: such a run is done again."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    return page.evaluate(
        "async () => {"
        "  for (let attempt = 0; ; attempt++) {"
        "    let busy = false;"
        "    const watch = new MutationObserver(() => { busy = true; });"
        "    watch.observe(document.body, {subtree: true, attributeFilter: ['aria-busy']});"
        "    const result = await axe.run(document, {resultTypes: ['violations']});"
        "    watch.disconnect();"
        "    busy = busy || !!document.querySelector('[aria-busy=true]');"
        "    if (busy && attempt < 3) { await new Promise(r => setTimeout(r, 600)); continue; }"
        "    return result.violations.filter(v => ['serious', 'critical'].includes(v.impact))"
        "      .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '));"
        "  }}"
    )


def _judge(page, artifacts, name: str) -> list[str]:
    """The page as it stands at both sizes and in both schemes: a screenshot each, no
    sideways scrolling, and axe's serious and critical violations."""
    problems = []
    for scheme in SCHEMES:
        page.emulate_media(color_scheme=scheme)
        for size, viewport in SIZES.items():
            page.set_viewport_size(viewport)
            _settle(page)
            page.screenshot(path=artifacts / f"frame-{name}-{size}-{scheme}.png", full_page=True)
            wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            if wide > 1:
                problems.append(f"{name}: {wide} px wider than the {size} px viewport")
            # Tables reflow on a phone rather than scroll sideways inside their box.
            problems += [
                f"{name} at {size}: the table {label!r} scrolls sideways"
                for label in page.evaluate(
                    "[...document.querySelectorAll('.table-wrap')]"
                    ".filter(w => w.scrollWidth > w.clientWidth + 1)"
                    ".map(w => w.getAttribute('aria-label') || w.className)"
                )
            ]
            problems += [f"{name} at {size}, {scheme}: {v}" for v in _serious(page)]
    return problems


def test_every_page_fits_the_screen_and_passes_axe(browser, demo_server, artifacts, objects):
    """Every page at 1440x900 and 390x844, light and dark, as admin (who sees every form):
    the login page first, then the list pages, the detail pages and a 404."""
    context = browser.new_context(viewport=SIZES["1440"], base_url=demo_server.url)
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        page.goto("/login/")
        problems = _judge(page, artifacts, "login")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", "wrong")
        page.click("button[type=submit]")
        expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")
        problems += _judge(page, artifacts, "login-refused")
        log_in(page, "admin", PASSWORDS["admin"])
        page.wait_for_url(f"{demo_server.url}/")
        pages = {**LIST_PAGES, **objects}
        page.goto(objects["deployment"])
        pages["container"] = page.locator(".replicas a[href*='/containers/']").first.get_attribute(
            "href"
        )
        for name, url in pages.items():
            page.set_viewport_size(SIZES["1440"])
            response = page.goto(url)
            assert response.status == (404 if name == "not-found" else 200), url
            page.wait_for_load_state("networkidle")
            problems += _judge(page, artifacts, name)
    finally:
        context.close()
    assert not problems, "\n".join(problems)


def test_the_navigation_collapses_and_opens_from_the_keyboard(browser, demo_server):
    context, page = _page(browser, demo_server, "390", "light")
    try:
        menu = page.get_by_role("button", name="Menu")
        services = page.get_by_role("navigation", name="Main").get_by_role("link", name="Services")
        expect(menu).to_be_visible()
        expect(services).to_be_hidden()
        menu.focus()
        page.keyboard.press("Enter")
        expect(menu).to_have_attribute("aria-expanded", "true")
        expect(services).to_be_visible()
        page.keyboard.press("Escape")
        expect(services).to_be_hidden()
        expect(menu).to_be_focused()
    finally:
        context.close()


def test_the_theme_toggle_is_remembered_and_managers_find_access(browser, demo_server):
    context, page = _page(browser, demo_server, "1440", "light", user="ops")
    try:
        toggle = page.locator("[data-theme-toggle]").first
        expect(toggle).to_have_text("Theme: auto")
        toggle.click()
        toggle.click()
        expect(toggle).to_have_text("Theme: dark")
        page.reload()
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(14, 21, 28)", background
        page.get_by_role("navigation", name="Main").get_by_role(
            "link", name="Access & roles"
        ).click()
        expect(page.get_by_role("navigation", name="Breadcrumb")).to_contain_text("Access & roles")
    finally:
        context.close()


def test_a_starred_environment_comes_first_on_the_dashboard(browser, demo_server, artifacts):
    context, page = _page(browser, demo_server, "390", "dark")
    try:
        page.goto("/environments/test/")
        page.get_by_role("button", name="Add Test to your favourites").click()
        unstar = page.get_by_role("button", name="Remove Test from your favourites")
        expect(unstar).to_have_attribute("aria-pressed", "true")
        page.goto("/")
        favourites = page.get_by_role("region", name="★ Your favourites")
        expect(favourites.get_by_role("link", name="Test", exact=True)).to_be_visible()
        first = page.locator("article.card.env h3").first
        expect(first).to_have_text("Test")
        page.screenshot(path=artifacts / "dashboard-favourites-390-dark.png", full_page=True)
        favourites.get_by_role("button", name="Remove Test from your favourites").click()
        expect(page.get_by_role("button", name="Add Test to your favourites")).to_be_visible()
        expect(page.get_by_role("region", name="★ Your favourites")).to_have_count(0)
    finally:
        context.close()

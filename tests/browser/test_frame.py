"""The page frame and the list pages in a real browser, at 1440x900 and 390x844, light
and dark: no page wider than the viewport, the navigation collapsing behind a menu
button usable from the keyboard, the theme toggle remembered, and axe-core (vendored
under tests/browser/vendor/) finding no serious or critical violation.

Screenshots: tests/artifacts/frame-<page>-<width>-<scheme>.png.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORDS, log_in

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
SIZES = {"1440": {"width": 1440, "height": 900}, "390": {"width": 390, "height": 844}}
PAGES = {
    "dashboard": "/",
    "services": "/services/",
    "deployments": "/deployments/",
    "board": "/promotions/",
    "images": "/images/",
    "audit": "/audit/",
    "environment": "/environments/dev/",
    "pipelines": "/pipelines/",
    "help": "/help/",
    "profile": "/profile/",
}


def _page(browser, demo_server, size: str, scheme: str, user: str = "dev"):
    context = browser.new_context(
        viewport=SIZES[size], base_url=demo_server.url, color_scheme=scheme
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    log_in(page, user, PASSWORDS[user])
    page.wait_for_url(f"{demo_server.url}/")
    return context, page


def _serious(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => {"
        # A live fragment may reload at any time (a probe arrives): wait for 500 ms without one.
        "  for (let quiet = 0; quiet < 5;) {"
        "    await new Promise(r => setTimeout(r, 100));"
        "    quiet = document.querySelector('[aria-busy=true]') ? 0 : quiet + 1;"
        "  }"
        "  return (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => ['serious', 'critical'].includes(v.impact))"
        ".map(v => v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))}"
    )
    return result


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", ["1440", "390"])
def test_every_list_page_fits_the_screen_and_passes_axe(
    browser, demo_server, artifacts, size, scheme
):
    context, page = _page(browser, demo_server, size, scheme)
    problems = []
    try:
        for name, url in PAGES.items():
            page.goto(url)
            page.wait_for_load_state("networkidle")
            # Fragments being swapped in are drawn faded (aria-busy): judge the settled page.
            expect(page.locator("[aria-busy=true]")).to_have_count(0)
            page.screenshot(path=artifacts / f"frame-{name}-{size}-{scheme}.png", full_page=True)
            wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            if wide > 1:
                problems.append(f"{url}: {wide} px wider than the {size} px viewport")
            problems += [f"{url}: {v}" for v in _serious(page)]
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

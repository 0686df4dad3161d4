"""The portal in a real browser: log in through the form, live fragments, error pages,
role grants with confirmation dialogs and API tokens, against Berth's server on the real engine.

Screenshots land in tests/artifacts/ (gitignored) for a human to look at.
"""

import re
import shutil
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parent.parent.parent / "docs"


def _card(page, name: str):
    return page.locator("article.card.env").filter(
        has=page.get_by_role("link", name=name, exact=True)
    )


def _wait_for_fragments(page) -> None:
    """Every [data-src] fragment has been fetched and swapped in."""
    page.wait_for_load_state("networkidle")
    expect(page.locator("[aria-busy=true]")).to_have_count(0)


def _accept_dialogs(page, seen: list[str]) -> None:
    def accept(dialog):
        seen.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)


def test_a_developer_sees_dev_and_test_with_live_endpoint_states(login_as, artifacts):
    page = login_as("dev")
    expect(page.locator("h1")).to_have_text("Environments")
    expect(page.locator("article.card.env h3")).to_have_text(["Dev", "Test"])
    expect(_card(page, "Ops")).to_have_count(0)
    for name in ("Dev", "Test"):
        expect(_card(page, name).locator(".state .badge").first).to_have_text("reachable")
    _wait_for_fragments(page)
    page.screenshot(path=artifacts / "dashboard-dev.png", full_page=True)


def test_a_developer_opening_ops_gets_the_not_found_page(login_as):
    page = login_as("dev")
    response = page.goto("/environments/ops/")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("Not found")
    expect(page.locator("main")).to_contain_text("There is nothing here")
    assert "Traceback" not in page.content()


def test_a_wrong_password_shows_an_error_on_the_login_page(new_page, demo_server):
    page = new_page()
    log_in(page, "dev", "not-the-password")
    expect(page.locator(".msg.error")).to_have_text("Wrong username or password. Try again.")
    assert page.url.startswith(f"{demo_server.url}/login/")
    expect(page.locator("input[name=username]")).to_have_value("dev")


def test_an_operator_sees_all_three_environments(login_as, artifacts, update_readme_screenshot):
    page = login_as("ops")
    expect(page.locator("article.card.env h3")).to_have_text(["Dev", "Test", "Ops"])
    for name in ("Dev", "Test", "Ops"):
        expect(_card(page, name).locator(".state .badge").first).to_have_text("reachable")
    _wait_for_fragments(page)
    page.screenshot(path=artifacts / "dashboard-ops.png")
    if update_readme_screenshot:
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(artifacts / "dashboard-ops.png", DOCS / "screenshot.png")


def test_an_operator_opens_the_ops_environment_and_its_containers_load(login_as, artifacts):
    page = login_as("ops")
    _card(page, "Ops").get_by_role("link", name="Ops", exact=True).click()
    page.wait_for_url("**/environments/ops/")
    expect(page.locator("h1")).to_have_text("Ops")
    expect(page.locator("#containers")).not_to_contain_text("Loading containers…")
    expect(page.locator("#containers > *").first).to_be_visible()
    expect(page.locator("#containers .msg.error")).to_have_count(0)
    expect(page.locator(".state .badge").first).to_have_text("reachable")
    _wait_for_fragments(page)
    page.screenshot(path=artifacts / "environment-ops.png", full_page=True)


def test_an_operator_grants_and_revokes_the_tester_role_in_ops(login_as, artifacts):
    page = login_as("ops")
    dialogs: list[str] = []
    _accept_dialogs(page, dialogs)
    page.goto("/environments/ops/access/")
    expect(page.locator("h1")).to_contain_text("Access")

    page.select_option("select[name=principal]", "user:dev")
    page.select_option("select[name=role]", "tester")
    page.get_by_role("button", name="Grant").click()
    expect(page.locator(".messages .msg.success")).to_have_text("Granted Tester to user dev.")
    row = page.locator("section.card", has_text="Who has access").locator(
        "tbody tr", has_text="dev"
    )
    row = row.filter(has=page.locator(".pill", has_text="user"))
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(1)).to_have_text("Tester")
    expect(row.locator("td").nth(2)).to_have_text("view_environment")
    expect(row.locator("td").nth(3)).to_have_text("ops")
    page.screenshot(path=artifacts / "access-ops.png", full_page=True)

    row.get_by_role("button", name="Revoke").click()
    expect(page.locator(".messages .msg.success")).to_have_text("Revoked Tester from user dev.")
    assert dialogs == ["Revoke Tester from user dev?"]
    expect(row).to_have_count(0)


def test_an_operator_creates_uses_and_revokes_an_api_token(login_as, demo_server):
    page = login_as("ops")
    dialogs: list[str] = []
    _accept_dialogs(page, dialogs)
    page.goto("/profile/")
    page.fill("input[name=name]", "ci")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token").inner_text().strip()
    assert re.fullmatch(r"\S{20,}", secret), secret

    api = f"{demo_server.url}/api/environments/"
    headers = {"Authorization": f"Token {secret}"}
    response = requests.get(api, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert [e["name"] for e in response.json()["results"]] == ["Dev", "Test", "Ops"]

    # Shown once: a reload no longer has it.
    page.reload()
    expect(page.locator("#new-token")).to_have_count(0)
    row = page.locator("tbody tr").filter(has=page.get_by_role("cell", name="ci", exact=True))
    expect(row).to_have_count(1)
    row.get_by_role("button", name="Revoke").click()
    expect(page.locator(".messages .msg.success")).to_contain_text("Token revoked")
    assert dialogs and dialogs[0].startswith("Revoke token ci?")
    expect(row).to_have_count(0)
    assert requests.get(api, headers=headers, timeout=10).status_code in (401, 403)

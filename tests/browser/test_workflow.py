"""The whole Dev → Test → Ops path done only through pages, as dev, qa and ops would:
create a service from a full image reference, fill the config form (its JSON and YAML
tabs in step, a YAML error shown at its line), copy it to Test
(the port clash refused on its field, the differences shown), deploy by tag and by
"what Dev runs", sign off, deploy to Ops from the promoted list (the rest greyed with
the reason), and roll back. qa's, ops's and the roll-back steps in dark mode, the
service page at 1440x900 and 390x844 in both; screenshots in tests/artifacts/.

The tests of this module run in order and share one service, like one person's day.
"""

from __future__ import annotations

import json
import re
import uuid
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from registry.client import RegistryClient
from tests.browser.conftest import PASSWORDS, log_in
from tests.registries import image_variant
from tests.stack import free_port_base, remove_service_containers

pytestmark = [pytest.mark.browser, pytest.mark.integration]

DEPLOY_TIMEOUT = 90_000
SIZES = {"wide": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
HEALTHY_COMMAND = (
    'sh -c "busybox mkdir -p /www && echo ok > /www/health && '
    'exec httpd -f -p 127.0.0.1:$PORT -h /www"'
)


@pytest.fixture(scope="module")
def day(registry_url, docker_host):
    """The service's name, two tagged digests of demo/app of its own, and free ports."""
    name = f"shop-{uuid.uuid4().hex[:6]}"
    client = RegistryClient(registry_url)
    base = client.resolve("demo/app", "latest")
    tags = {}
    for n in ("a", "b"):
        manifest = image_variant(client, "demo/app", base, f"{name}-{n}")
        tags[n] = (f"{name}-{n}", manifest.digest)
    client.put_manifest("demo/app", tags["a"][0], client.get_manifest("demo/app", tags["a"][1]))
    port = free_port_base()
    yield SimpleNamespace(
        name=name, host=registry_url.split("://", 1)[1], tags=tags, client=client,
        dev_port=port, test_port=port + 10, ops_port=port + 20,
    )  # fmt: skip
    remove_service_containers(docker_host, name)


@pytest.fixture(params=list(SIZES))
def size(request):
    return request.param


@pytest.fixture(params=["light", "dark"])
def scheme(request):
    return request.param


def _page(browser, demo_server, username, size="wide", scheme="light"):
    context = browser.new_context(
        viewport=SIZES[size], base_url=demo_server.url, color_scheme=scheme
    )
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.berth_errors = errors
    log_in(page, username, PASSWORDS[username])
    page.wait_for_url(f"{demo_server.url}/")
    return page


def _wait_for(page, status="succeeded"):
    page.wait_for_url(re.compile(r"/deployments/\d+/$"))
    expect(page.locator("[data-status]")).to_have_text(status, timeout=DEPLOY_TIMEOUT)


def _choose(panel, label_start: str) -> str:
    """Pick the first enabled picker option whose text starts with ``label_start``."""
    select = panel.locator("[data-deploy-picker] select")
    expect(select.locator("option", has_text=label_start).first).to_be_attached()
    option = select.locator("option:not([disabled])", has_text=label_start).first
    select.select_option(option.get_attribute("value"))
    return option.get_attribute("data-digest")


def test_1_dev_creates_the_service_from_a_full_reference(browser, demo_server, day, artifacts):
    page = _page(browser, demo_server, "dev")
    page.get_by_role("link", name="Services", exact=True).click()
    form = page.locator("form.new-service")
    name = form.get_by_label("Name")
    name.fill("Not A Name")
    assert name.evaluate("el => el.validity.patternMismatch"), "the pattern must work"
    name.fill(day.name)
    form.get_by_label("Image repository").fill("registry.invalid:5000/demo/app")
    form.get_by_role("button", name="Create service").click()
    error = form.locator("p.field-error")
    expect(error).to_contain_text("No registry at registry.invalid:5000")
    # On the field it is about, and announced through it.
    repository = form.get_by_label("Image repository")
    expect(repository).to_have_attribute("aria-invalid", "true")
    form.get_by_label("Image repository").fill(f"{day.host}/demo/app")
    form.get_by_role("button", name="Create service").click()
    page.wait_for_url(re.compile(rf"/services/{day.name}/$"))
    expect(page.locator(".page-head code")).to_have_text(f"{day.host}/demo/app")
    assert page.berth_errors == []


def test_2_dev_fills_the_config_form_and_deploys_a_tag(browser, demo_server, day, artifacts):
    page = _page(browser, demo_server, "dev")
    page.goto(f"/services/{day.name}/")
    panel = page.locator("#env-dev")
    form = panel.locator("form[data-config-form]")
    form.get_by_label("Command", exact=True).fill(HEALTHY_COMMAND)
    form.get_by_role("button", name="Add a variable").click()
    form.get_by_label("Variable name").fill("GREETING")
    form.get_by_label("Value of GREETING").fill("hello")
    form.get_by_role("button", name="Add a variable").click()
    form.get_by_label("Variable name").nth(1).fill("DB_PASSWORD")
    form.get_by_label("Value of DB_PASSWORD").fill("s3cret-dev")
    form.get_by_label("Keep DB_PASSWORD secret").check()
    expect(form.get_by_label("Value of DB_PASSWORD")).to_have_attribute("type", "password")
    form.get_by_label("Base port").fill(str(day.dev_port))
    form.get_by_label("Health check").select_option("http")
    expect(form.get_by_label("Path", exact=True)).to_have_value("/health")
    form.get_by_label("Interval (s)").fill("0.5")
    form.get_by_label("Replicas", exact=True).fill("99")

    # The JSON tab shows the same document, and keeps what the form does not know.
    form.get_by_role("tab", name="JSON").click()
    document = json.loads(form.locator("textarea[name=document]").input_value())
    assert document["env"] == {"GREETING": "hello", "DB_PASSWORD": "s3cret-dev"}
    assert document["secret_env"] == ["DB_PASSWORD"]
    assert document["port"] == day.dev_port
    assert document["health_check"]["http_path"] == "/health"
    assert document["health_check"]["interval"] == 0.5
    assert document["command"] == [
        "sh", "-c",
        "busybox mkdir -p /www && echo ok > /www/health && exec httpd -f -p 127.0.0.1:$PORT -h /www",
    ]  # fmt: skip
    # A key the form does not know (a newer Berth's) goes through the text unchanged: the
    # server, the only validator, answers for it.
    text = form.locator("textarea[name=document]")
    text.fill(json.dumps({**document, "rollout_window": "night"}, indent=2))
    expect(form.get_by_label("Base port")).to_have_value(str(day.dev_port))
    form.get_by_role("tab", name="Form").click()
    form.get_by_label("Port variable").fill("PORT")
    assert "rollout_window" in json.loads(text.input_value())
    form.get_by_role("button", name="Save revision").click()
    expect(form.locator("[data-result]")).to_contain_text("rollout_window: Unknown field.")
    form.get_by_role("tab", name="JSON").click()
    text.fill(json.dumps(document, indent=2))

    # The YAML tab is the same document again; an edit there shows in the form and the JSON.
    form.get_by_role("tab", name="YAML").click()
    yaml_text = form.get_by_label("Configuration in Dev (YAML)")
    expect(yaml_text).to_have_value(re.compile(rf"^port: {day.dev_port}$", re.M))
    good = yaml_text.input_value().replace("GREETING: hello", "GREETING: hello from yaml")
    yaml_text.fill(good)
    expect(form.get_by_label("Value of GREETING")).to_have_value("hello from yaml")
    assert json.loads(text.input_value())["env"]["GREETING"] == "hello from yaml"
    # A syntax error shows at its line; the text stays as typed, the tab is not left and
    # nothing is saved until it parses.
    lines = good.splitlines()
    at = next(n for n, line in enumerate(lines) if line.startswith("replicas:"))
    broken = "\n".join([*lines[: at + 1], "  oops: 1", *lines[at + 1 :]]) + "\n"
    yaml_text.fill(broken)
    state = form.locator("[data-yaml-state]")
    expect(state).to_contain_text(f"Not valid YAML yet, line {at + 2}, column")
    expect(state.locator("pre")).to_contain_text("oops: 1")
    expect(yaml_text).to_have_attribute("aria-invalid", "true")
    form.get_by_role("tab", name="Form").click()
    expect(form.get_by_role("tab", name="YAML")).to_have_attribute("aria-selected", "true")
    form.get_by_role("button", name="Save revision").click()
    expect(form.locator("[data-result]")).to_contain_text(f"The YAML does not parse (line {at + 2}")
    assert yaml_text.input_value() == broken, "what was typed is kept"
    assert json.loads(text.input_value())["env"]["GREETING"] == "hello from yaml"
    panel.screenshot(path=str(artifacts / "config-yaml-error.png"))
    state.get_by_role("button", name=f"Show line {at + 2}").click()
    assert yaml_text.evaluate("el => el.value.slice(el.selectionStart, el.selectionEnd)") == (
        "  oops: 1"
    )
    yaml_text.fill(good)
    expect(yaml_text).not_to_have_attribute("aria-invalid", "true")
    form.get_by_role("tab", name="Form").click()

    form.get_by_role("button", name="Save revision").click()
    replicas = form.get_by_label("Replicas", exact=True)
    expect(replicas).to_have_attribute("aria-invalid", "true")
    expect(form.locator("p.field-error")).to_contain_text("99 is out of range: use 0 to 50.")
    panel.screenshot(path=str(artifacts / "config-form-error.png"))
    replicas.fill("1")
    form.get_by_label("Comment").fill("first config, from the form")
    form.get_by_role("button", name="Save revision").click()
    expect(form.locator("[data-result]")).to_contain_text("Saved revision 1.")
    expect(panel).to_contain_text("Revision 1 by dev", timeout=10_000)
    expect(panel.get_by_label("Value of DB_PASSWORD")).to_have_value("********")

    tag, digest = day.tags["a"]
    chosen = _choose(panel, f"Tag {tag}")
    assert chosen == digest
    expect(panel.locator("input[name=digest]")).to_have_value(digest)
    expect(panel.locator("[data-picker-note]")).to_have_text(f"Tag {tag} is {digest}")
    page.screenshot(path=str(artifacts / "service-dev-form.png"), full_page=True)
    panel.get_by_role("button", name="Deploy to Dev").click()
    _wait_for(page)
    assert page.berth_errors == []


def test_3_qa_copies_the_config_to_test_and_deploys_what_dev_runs(
    browser, demo_server, day, artifacts
):
    page = _page(browser, demo_server, "qa", scheme="dark")
    page.goto(f"/services/{day.name}/")
    panel = page.locator("#env-test")
    form = panel.locator("form[data-config-form]")
    form.get_by_label("Start from").select_option("dev")
    diff = form.locator("[data-copy-diff]")
    expect(diff).to_contain_text("No differences from Dev's config yet")
    expect(diff).to_contain_text("Secret values are not copied: give DB_PASSWORD here.")
    expect(form.get_by_label("Base port")).to_have_value(str(day.dev_port))
    form.get_by_role("button", name="Save revision").click()
    port_error = form.locator("p.field-error", has_text="Port")
    expect(port_error).to_contain_text(
        re.compile(rf"Ports? {day.dev_port}\b.* already bound on this engine by {day.name} in Dev")
    )
    expect(form.get_by_label("Base port")).to_have_attribute("aria-invalid", "true")
    expect(form.locator("p.field-error", has_text="DB_PASSWORD")).to_contain_text(
        "Give DB_PASSWORD's value in Test."
    )
    panel.screenshot(path=str(artifacts / "config-copy-refused-dark.png"))
    form.get_by_label("Base port").fill(str(day.test_port))
    form.get_by_label("Value of DB_PASSWORD").fill("s3cret-test")
    expect(diff).to_contain_text(f"port: {day.dev_port} → {day.test_port}")
    expect(diff).to_contain_text('env.DB_PASSWORD: "********" → "s3cret-test"')
    form.get_by_role("button", name="Save revision").click()
    expect(panel).to_contain_text("Revision 1 by qa", timeout=10_000)

    digest = _choose(panel, "What Dev runs")
    assert digest == day.tags["a"][1]
    panel.get_by_role("button", name="Deploy to Test").click()
    _wait_for(page)
    page.screenshot(path=str(artifacts / "deployment-test-dark.png"), full_page=True)
    assert page.berth_errors == []


def test_4_qa_signs_off_and_ops_deploys_the_promoted_digest(browser, demo_server, day, artifacts):
    digest = day.tags["a"][1]
    version = f"2.{uuid.uuid4().int % 10**6}.{uuid.uuid4().int % 10**6}"
    # Someone watching the board in another browser sees the promotion arrive.
    watcher = _page(browser, demo_server, "ops", scheme="dark")
    watcher.goto("/promotions/")
    watcher.evaluate("window.berthNotReloaded = true")
    expect(watcher.locator("#live-board")).to_be_attached()
    qa = _page(browser, demo_server, "qa")
    qa.goto("/environments/test/")
    item = qa.locator(f'.deployed-item[data-digest="{digest}"]')
    item.locator("input[name=version]").fill(version)
    item.locator("input[name=note]").fill("workflow test passed")
    qa.once("dialog", lambda dialog: dialog.accept())
    item.get_by_role("button", name=re.compile("Sign off")).click()
    expect(item.locator("[data-result]")).to_contain_text("Promoted to Ops", timeout=20_000)
    ops_cell = watcher.locator("tr", has=watcher.locator("th.repo", has_text="demo/app")).locator(
        'td[data-environment="ops"]'
    )
    expect(ops_cell).to_contain_text(version, timeout=15_000)
    assert watcher.evaluate("window.berthNotReloaded") is True, "updated in place, not reloaded"
    watcher.screenshot(path=str(artifacts / "board-live-update-dark.png"), full_page=True)

    page = _page(browser, demo_server, "ops", scheme="dark")
    page.goto(f"/services/{day.name}/")
    panel = page.locator("#env-ops")
    form = panel.locator("form[data-config-form]")
    form.get_by_label("Start from").select_option("test")
    form.get_by_label("Base port").fill(str(day.ops_port))
    form.get_by_label("Value of DB_PASSWORD").fill("s3cret-ops")
    form.get_by_role("button", name="Save revision").click()
    expect(panel).to_contain_text("Revision 1 by ops", timeout=10_000)

    select = panel.locator("[data-deploy-picker] select")
    # The stack's demo/app:latest was never signed off: offered, greyed, with the reason.
    greyed = select.locator("option[disabled]", has_text="Tag latest ·")
    expect(greyed).to_contain_text("not promoted into Ops")
    assert greyed.get_attribute("data-digest") == day.client.resolve("demo/app", "latest")
    chosen = _choose(panel, "Promoted into Ops")
    assert chosen == digest
    panel.get_by_label("Type Ops to confirm").first.fill("Ops")
    page.screenshot(path=str(artifacts / "deploy-ops-picker-dark.png"), full_page=True)
    panel.get_by_role("button", name="Deploy to Ops").click()
    _wait_for(page)
    page.screenshot(path=str(artifacts / "deployment-ops-dark.png"), full_page=True)
    assert page.berth_errors == []


def test_5_dev_deploys_a_new_push_and_rolls_back(browser, demo_server, day, artifacts):
    tag, digest = day.tags["b"]
    page = _page(browser, demo_server, "dev", scheme="dark")
    page.goto(f"/services/{day.name}/")
    panel = page.locator("#env-dev")
    select = panel.locator("[data-deploy-picker] select")
    expect(select.locator("option", has_text=f"Tag {tag}")).to_have_count(0)
    # Pushed while the page is open: opening the list again reads the registry.
    day.client.put_manifest("demo/app", tag, day.client.get_manifest("demo/app", digest))
    page.evaluate("document.querySelector('#env-dev [data-deploy-picker]').berthPicker.load()")
    assert _choose(panel, f"Tag {tag}") == digest
    panel.get_by_role("button", name="Deploy to Dev").click()
    _wait_for(page)

    page.get_by_role("link", name=f"{day.name} in Dev").click()
    panel = page.locator("#env-dev")
    page.once("dialog", lambda dialog: dialog.accept())
    panel.get_by_role("button", name=re.compile(r"^Roll back to #\d+$")).click()
    _wait_for(page)
    expect(page.locator(".deployment .lead")).to_contain_text(day.tags["a"][1])
    page.screenshot(path=str(artifacts / "deployment-rollback-dark.png"), full_page=True)
    assert page.berth_errors == []


def test_6_the_service_page_at_both_sizes_light_and_dark(
    browser, demo_server, day, artifacts, size, scheme
):
    page = _page(browser, demo_server, "dev", size, scheme)
    page.goto(f"/services/{day.name}/")
    expect(page.locator("#env-dev [data-deploy-picker] select option").nth(1)).to_be_attached()
    page.screenshot(path=str(artifacts / f"service-form-{size}-{scheme}.png"), full_page=True)
    page.screenshot(path=str(artifacts / f"service-form-{size}-{scheme}-top.png"))
    page.locator("#env-dev [data-deploy-picker]").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / f"service-picker-{size}-{scheme}.png"))
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= SIZES[size]["width"] + 1, f"the page is {width} px wide"
    page.goto("/services/")
    page.screenshot(path=str(artifacts / f"services-{size}-{scheme}.png"), full_page=True)

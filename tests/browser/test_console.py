"""The Console tab in a real browser, against Berth's server on the real engine: a developer runs
a one-off command and an interactive shell in a Dev container (xterm.js from
static/vendor/), sees the output and the exit code; a refusal shows its reason in the
tab; protected Ops shows that exec is turned off. Screenshots in tests/artifacts/."""

from __future__ import annotations

import contextlib
import uuid

import docker
import pytest
from playwright.sync_api import expect

from tests.stack import TEST_IMAGE

pytestmark = [pytest.mark.browser, pytest.mark.integration]

IDLE = "trap 'exit 0' TERM; while :; do sleep 0.1; done"


@pytest.fixture
def run(docker_host):
    client = docker.DockerClient(base_url=docker_host, version="auto")
    started = []

    def start(script: str = IDLE, environment: str = "dev"):
        container = client.containers.run(
            TEST_IMAGE,
            ["sh", "-c", script],
            name=f"console-{uuid.uuid4().hex[:6]}",
            labels={"berth.environment": environment},
            network_mode="none",
            detach=True,
        )
        started.append(container)
        return container

    yield start
    for container in started:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
    client.close()


def _console(page, container, environment: str = "dev"):
    page.goto(f"/environments/{environment}/containers/{container.id}/#console")
    expect(page.get_by_role("tab", name="Console")).to_have_attribute("aria-selected", "true")
    return page.locator("#tab-console")


def test_the_console_runs_a_command_and_shows_its_output_and_exit_code(login_as, run, artifacts):
    container = run()
    page = login_as("dev")
    console = _console(page, container)
    console.get_by_label("Command").fill("sh -c 'echo hello-console; echo on stderr >&2; exit 3'")
    console.get_by_role("button", name="Start").click()
    rows = console.locator(".xterm-rows")
    expect(rows).to_contain_text("hello-console")
    expect(rows).to_contain_text("on stderr")
    expect(console.locator("[data-console-state]")).to_have_text("Exited with code 3.")
    expect(rows).to_contain_text("[exited with code 3]")
    page.screenshot(path=str(artifacts / "console-one-off.png"))


def test_an_interactive_shell_takes_keystrokes_and_follows_the_window(login_as, run, artifacts):
    container = run()
    page = login_as("dev")
    page.set_viewport_size({"width": 1440, "height": 900})
    console = _console(page, container)
    console.get_by_role("button", name="Start").click()
    state = console.locator("[data-console-state]")
    expect(state).to_contain_text("Connected: session")
    rows = console.locator(".xterm-rows")
    expect(rows).to_contain_text("/ #")  # busybox's prompt
    page.keyboard.type("echo $((6*7)); stty size\n")
    expect(rows).to_contain_text("42")
    wide = rows.inner_text()
    page.screenshot(path=str(artifacts / "console-shell-1440.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    page.keyboard.type("clear; stty size\n")
    expect(rows).not_to_contain_text("42")
    narrow = rows.inner_text()
    page.screenshot(path=str(artifacts / "console-shell-390.png"), full_page=True)
    columns = [
        int(line.split()[1]) for line in (wide + "\n" + narrow).splitlines() if _size_line(line)
    ]
    assert len(columns) == 2 and columns[1] < columns[0] and columns[1] <= 50, columns
    console.get_by_role("button", name="Disconnect").click()
    expect(state).to_have_text("Disconnected.")


def _size_line(line: str) -> bool:
    parts = line.split()
    return len(parts) == 2 and all(part.isdigit() for part in parts)


def test_a_refusal_says_why_in_the_tab(login_as, run, artifacts):
    container = run("exit 0")
    container.wait(timeout=10)
    page = login_as("dev")
    console = _console(page, container)
    console.get_by_role("button", name="Start").click()
    expect(console.locator("[data-console-state]")).to_have_text(
        "Refused or ended: The container is exited."
    )
    page.screenshot(path=str(artifacts / "console-refused.png"))


def test_protected_ops_says_exec_is_turned_off(login_as, run):
    container = run(environment="ops")
    page = login_as("ops")
    console = _console(page, container, "ops")
    expect(console).to_contain_text("Running commands in containers is turned off in Ops")
    expect(console.get_by_role("button", name="Start")).to_have_count(0)

"""The log viewer and the container page in a real browser, against Berth's server on the real
engine: a container in Dev prints 100,000 numbered lines (stderr, ANSI colours and three
100 KB lines among them) while a developer watches; the viewer holds them all with a
bounded DOM, searches them within a second, wraps, opens a huge line, and reconnects
without showing a line twice. A tester sees no restart / stop buttons in Dev; a
developer restarts a container from its page and its log follows the new run.

Screenshots land in tests/artifacts/ for a human to look at.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid

import docker
import pytest
import requests
from playwright.sync_api import expect

from tests.stack import TEST_IMAGE

pytestmark = [pytest.mark.browser, pytest.mark.integration]

LINES = 100_000
BIG_LINES = 3
# Waits for /tmp/go (created with docker exec once the page is open, so every line
# arrives live rather than as a backlog the server caps), then prints the lines.
FLOOD = r"""
while [ ! -f /tmp/go ]; do sleep 0.1; done
i=0
while [ $i -lt 100000 ]; do
  if [ $((i % 10)) -eq 3 ]; then printf 'line %05d on stderr\n' $i >&2
  elif [ $((i % 7)) -eq 0 ]; then printf '\033[32mline %05d\033[0m in \033[1;31mcolour\033[0m\n' $i
  else printf 'line %05d\n' $i; fi
  if [ $i -ge 50000 ] && [ $i -lt 50003 ]; then
    printf 'big %05d ' $i; head -c 102400 /dev/zero | tr '\0' x; echo
  fi
  i=$((i+1))
done
"""
# Counts slowly until stopped; exits at once on SIGTERM.
TICKER = r"""
trap 'exit 0' TERM
echo started
i=0
while true; do printf 'tick %05d\n' $i; i=$((i+1)); sleep 0.05; done
"""
# One replica of a service: says hello in colour, then counts.
REPLICA = r"""
trap 'exit 0' TERM
printf '\033[36mhello from %s\033[0m\n' "$HOSTNAME"
i=0
while true; do printf 'request %05d served\n' $i; i=$((i+1)); sleep 0.3; done
"""
# 3,000 lines, then it exits: more than the first connection's tail of 500.
OLD_LOG = r"""
i=0
while [ $i -lt 3000 ]; do printf 'old %05d\n' $i; i=$((i+1)); done
"""
VIEWER = "window.berthLogViewer[0]"
# The plain text of the lines from 40 % to 60 % of the way through the viewer's log.
MIDDLE_FIFTH = """() => {
  const texts = [];
  window.berthLogViewer[0].forEachLine((line) => { if (!line.marker) texts.push(line.plain); });
  return texts.slice(Math.floor(texts.length * 0.4), Math.ceil(texts.length * 0.6));
}"""
# Lines the server dropped for this viewer because it fell behind (a loaded machine): the
# "skipped" markers say how many, and the download holds them.
SKIPPED = """() => {
  let skipped = 0;
  window.berthLogViewer[0].forEachLine((line) => {
    const found = line.marker === "skipped" && /([^a-z]+) lines skipped/.exec(line.plain);
    if (found) skipped += Number(found[1].replace(/\\D/g, ""));
  });
  return skipped;
}"""
NO_DUPLICATES = """() => {
  const seen = new Set();
  let duplicates = 0;
  window.berthLogViewer[0].forEachLine((line) => {
    if (line.marker) return;
    const key = line.stream + line.ts + line.text;
    if (seen.has(key)) duplicates++;
    seen.add(key);
  });
  return duplicates;
}"""


@pytest.fixture
def engine(docker_host):
    client = docker.DockerClient(base_url=docker_host, version="auto")
    started = []

    def run(script: str, prefix: str, labels: dict | None = None, environment: dict | None = None):
        container = client.containers.run(
            TEST_IMAGE,
            ["sh", "-c", script],
            name=f"{prefix}-{uuid.uuid4().hex[:6]}",
            labels={"berth.environment": "dev", **(labels or {})},
            environment=environment or {},
            network_mode="none",
            detach=True,
        )
        started.append(container)
        return container

    yield run
    try:
        for container in started:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
    finally:
        client.close()


def _container_page(page, container) -> None:
    page.goto(f"/environments/dev/containers/{container.id}/")
    expect(page.get_by_role("heading", name=container.name)).to_be_visible()


def _rows(page) -> int:
    return page.locator(".lv-rows > .lv-row").count()


def test_the_viewer_holds_100k_lines_with_a_bounded_dom_and_searches_within_a_second(
    login_as, engine, artifacts
):
    container = engine(FLOOD, "flood")
    page = login_as("dev")
    _container_page(page, container)
    expect(page.locator("[data-lv-state]")).to_have_text("● live")
    assert container.exec_run(["sh", "-c", ": > /tmp/go"]).exit_code == 0

    try:
        page.wait_for_function(f"{VIEWER}.ended()", timeout=120_000)
    finally:
        page.screenshot(path=str(artifacts / "logviewer-100k-arrived.png"))
        print("viewer:", page.evaluate(f"[{VIEWER}.state(), {VIEWER}.lineCount()]"))
    expect(page.locator("[data-lv-state]")).to_have_text("ended: container exited (code 0)")
    held, skipped = page.evaluate(f"{VIEWER}.lineCount()"), page.evaluate(SKIPPED)
    count = held + skipped
    # 100 KB lines arrive in pieces of at most 64 KiB and a bit: two or three each. A
    # viewer that fell behind is told what it lost: those count as arrived.
    assert LINES + BIG_LINES <= count <= LINES + 3 * BIG_LINES, (count, skipped)
    assert page.evaluate(f"{VIEWER}.evicted()") == 0
    assert page.evaluate(NO_DUPLICATES) == 0
    assert _rows(page) < 500
    expect(page.locator(".lv-rows .lv-row").last).to_contain_text("container exited (code 0)")
    expect(page.locator(".lv-rows .a-f32").first).to_have_text(re.compile(r"line \d{5}"))
    page.screenshot(path=str(artifacts / "logviewer-100k.png"))

    # 19 numbers of five digits hold "7777": 7777x, x7777, 77777 once.
    search = page.get_by_label("Search the log")
    page.keyboard.press("/")
    expect(search).to_be_focused()
    started = time.monotonic()
    search.fill("7777")
    expect(page.locator("[data-lv-matches]")).to_have_text("19 matches", timeout=1_000)
    took = time.monotonic() - started
    assert took < 1.0, took
    page.get_by_label("Only matching").check()
    expect(page.locator("[data-lv-count]")).to_contain_text(f"showing 19 of {held:,} lines")
    expect(page.locator(".lv-rows .lv-row:not(.lv-marker)")).to_have_count(19)
    expect(page.locator(".lv-rows mark").first).to_have_text("7777")
    page.screenshot(path=str(artifacts / "logviewer-filter.png"))

    # Highlight without filtering, then jump to a match: the view pauses there.
    page.get_by_label("Only matching").uncheck()
    search.fill("line 31233")
    expect(page.locator("[data-lv-matches]")).to_have_text("1 match", timeout=1_000)
    search.press("Enter")
    expect(page.locator(".lv-row.current")).to_contain_text("line 31233 on stderr")
    expect(page.locator(".lv-row.current")).to_have_class(re.compile(r"\berr\b"))
    expect(page.locator("[data-lv-follow]")).to_have_text("Follow")
    assert _rows(page) < 500

    # Scroll into the middle by hand: still a handful of rows in the DOM.
    page.locator("[data-lv-scroller]").evaluate("el => { el.scrollTop = el.scrollHeight / 2; }")
    # The rows redraw on the next frames; on a busy machine that can take longer than a
    # fixed pause, so wait (bounded) for them to show the middle. The middle is the
    # viewer's own: stdout and stderr are read apart and shown as they arrive, so under
    # load a run of stderr lines may sit away from its stdout neighbours' numbers.
    middle = set(page.evaluate(MIDDLE_FIFTH))
    deadline = time.monotonic() + 5
    while True:
        texts = page.locator(".lv-rows .lv-row .lv-text").all_inner_texts()
        if any(text in middle for text in texts) or time.monotonic() > deadline:
            break
        page.wait_for_timeout(100)
    assert _rows(page) < 500
    assert any(text in middle for text in texts), texts[:5]

    # Wrap: the 100 KB lines take several rows, cut at 2,000 characters.
    search.fill("big 50001")
    expect(page.locator("[data-lv-matches]")).to_have_text("1 match", timeout=1_000)
    page.get_by_label("Wrap").check()
    search.press("Enter")
    big = page.locator(".lv-row.current")
    expect(big).to_contain_text("more characters")
    box = big.bounding_box()
    assert box and box["height"] > 5 * 18, box
    assert _rows(page) < 500
    page.screenshot(path=str(artifacts / "logviewer-wrap.png"))
    big.locator(".lv-more").click()
    dialog = page.locator("dialog.lv-dialog")
    expect(dialog).to_be_visible()
    whole = dialog.locator("pre").inner_text()
    assert whole.startswith("big 50001 xxx") and len(whole) > 60_000, len(whole)
    page.screenshot(path=str(artifacts / "logviewer-line.png"))
    dialog.get_by_role("button", name="Close").click()

    # End follows again, at the bottom.
    page.get_by_label("Wrap").uncheck()
    search.fill("")
    page.locator("[data-lv-scroller]").focus()
    page.keyboard.press("End")
    expect(page.locator("[data-lv-follow]")).to_have_text("Pause")
    expect(page.locator(".lv-rows .lv-row").last).to_contain_text("container exited (code 0)")


def test_a_reconnect_resumes_after_the_last_line_without_duplicates(login_as, engine, artifacts):
    container = engine(TICKER, "ticker")
    page = login_as("dev")
    _container_page(page, container)
    expect(page.locator("[data-lv-state]")).to_have_text("● live")
    page.wait_for_function(f"{VIEWER}.lineCount() > 20")
    page.evaluate(f"{VIEWER}.disconnect()")
    expect(page.locator("[data-lv-state]")).to_contain_text("reconnecting in 1 s")
    expect(page.locator("[data-lv-state]")).to_have_text("● live", timeout=10_000)
    before = page.evaluate(f"{VIEWER}.lineCount()")
    page.wait_for_function(f"{VIEWER}.lineCount() > {before} + 20")
    assert page.evaluate(NO_DUPLICATES) == 0
    ticks = []
    page.evaluate(
        "() => { window.__ticks = []; window.berthLogViewer[0].forEachLine((l) => window.__ticks.push(l.text)); }"
    )
    ticks = [int(t.split()[1]) for t in page.evaluate("window.__ticks") if t.startswith("tick ")]
    assert ticks == list(range(ticks[0], ticks[0] + len(ticks))), "a line is missing or doubled"


def test_a_tester_sees_no_restart_or_stop_in_dev_and_no_logs(login_as, engine, artifacts):
    container = engine(TICKER, "quiet", environment={"API_TOKEN": "hunter2-secret"})
    page = login_as("qa")
    page.goto("/environments/dev/")
    page.get_by_role("link", name=container.name).click()
    expect(page.get_by_role("heading", name=container.name)).to_be_visible()
    expect(page.locator("[data-state-badge]")).to_have_text("running")
    expect(page.get_by_role("button", name="Restart")).to_have_count(0)
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)
    expect(page.get_by_role("button", name="Start")).to_have_count(0)
    expect(page.locator("#tab-logs")).to_contain_text("not read its logs")
    expect(page.locator(".logviewer")).to_have_count(0)
    page.get_by_role("tab", name="Stats").click()
    expect(page.locator("[data-stats-state]")).to_contain_text("live", timeout=10_000)
    expect(page.locator('[data-stat="cpu"]')).to_contain_text("%")
    page.wait_for_timeout(5_000)
    page.screenshot(path=str(artifacts / "container-stats-tester.png"))
    page.get_by_role("tab", name="Inspect").click()
    expect(page.locator("pre.inspect")).to_contain_text('"Id"')
    expect(page.locator("pre.inspect")).to_contain_text("API_TOKEN=")
    expect(page.locator("pre.inspect")).not_to_contain_text("hunter2-secret")
    page.screenshot(path=str(artifacts / "container-inspect.png"))


def test_a_developer_restarts_a_container_and_its_log_follows_the_new_run(
    login_as, engine, artifacts
):
    container = engine(TICKER, "restart")
    page = login_as("dev")
    _container_page(page, container)
    expect(page.locator("[data-lv-state]")).to_have_text("● live")
    page.wait_for_function(f"{VIEWER}.lineCount() > 5")
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Restart").click()
    expect(page.locator(".container-actions .result.success")).to_have_text(
        f"Restarted: {container.name} is running.", timeout=30_000
    )
    expect(page.locator("[data-state-badge]")).to_have_text("running")
    # The old run's log ended when it stopped; the viewer follows the new run.
    started = """() => { let n = 0; window.berthLogViewer[0].forEachLine(
      (l) => { if (l.text === "started") n++; }); return n; }"""
    page.wait_for_function(f"({started})() === 2", timeout=15_000)
    expect(page.locator("[data-lv-state]")).to_have_text("● live")
    assert page.evaluate(NO_DUPLICATES) == 0
    page.screenshot(path=str(artifacts / "container-restarted.png"))

    page.get_by_role("button", name="Stop").click()
    expect(page.locator("[data-state-badge]")).to_have_text("exited", timeout=30_000)
    expect(page.locator("[data-lv-state]")).to_contain_text("ended:")

    # The environment page's badges follow the engine too, without a reload.
    page.goto("/environments/dev/")
    row = page.locator(f'tr[data-container="{container.id}"]')
    expect(row.locator("[data-state-badge]")).to_have_text("exited")
    expect(page.locator("[data-events-live]")).to_have_text("● updating live")
    container.start()
    expect(row.locator("[data-state-badge]")).to_have_text("running", timeout=10_000)
    expect(row.locator("[data-status-text]")).to_contain_text("started at")


def test_load_older_fills_the_buffer_back_to_the_start_of_the_log(login_as, engine):
    container = engine(OLD_LOG, "older")
    container.wait(timeout=30)
    page = login_as("dev")
    _container_page(page, container)
    expect(page.locator("[data-lv-state]")).to_contain_text("ended")
    assert page.evaluate(f"{VIEWER}.lineCount()") == 500  # the server's default tail
    older = page.get_by_role("button", name="Load older lines")
    scroller = page.locator("[data-lv-scroller]")
    top_line = "() => document.elementFromPoint(400, {y}).closest('.lv-row').innerText"
    box = scroller.bounding_box()
    y = int(box["y"] + box["height"] / 2)
    for expected in (1500, 2500, 3000):
        shown = page.evaluate(top_line.format(y=y))
        older.click()
        page.wait_for_function(f"{VIEWER}.lineCount() === {expected}")
        page.wait_for_timeout(100)
        assert page.evaluate(top_line.format(y=y)) == shown  # the lines in view stay put
    expect(older).to_be_hidden()
    numbers = page.evaluate(
        """() => { const n = []; window.berthLogViewer[0].forEachLine(
        (l) => { if (!l.marker) n.push(Number(l.text.split(" ")[1])); }); return n; }"""
    )
    assert numbers == list(range(3000))


def test_service_logs_merge_the_replicas_each_in_its_colour(
    login_as, demo_server, engine, artifacts
):
    name = f"svc-{uuid.uuid4().hex[:6]}"
    dev = requests.Session()
    dev.headers["Authorization"] = f"Token {demo_server.token('dev', 'berth-dev')}"
    response = dev.post(
        f"{demo_server.url}/api/services/",
        json={"name": name, "registry": "local", "repository": "demo/app"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    replicas = [
        engine(REPLICA, f"{name}-{slot}", labels={"berth.service": name, "berth.slot": str(slot)})
        for slot in (1, 2)
    ]
    page = login_as("dev")
    page.goto(f"/services/{name}/environments/dev/logs/")
    expect(page.locator("[data-lv-state]")).to_have_text("● live", timeout=15_000)
    for replica in replicas:
        expect(page.locator(".lv-rep", has_text=replica.name).first).to_be_visible(timeout=10_000)
    colours = {
        replica.name: page.locator(".lv-rep", has_text=replica.name).first.evaluate(
            "e => getComputedStyle(e).color"
        )
        for replica in replicas
    }
    assert len(set(colours.values())) == 2, colours
    page.wait_for_timeout(1_000)
    page.screenshot(path=str(artifacts / "logviewer-service.png"))
    replica_filter = page.get_by_label("Replica")
    replica_filter.select_option(replicas[1].name)
    expect(page.locator("[data-lv-count]")).to_contain_text("showing")
    shown = page.locator(".lv-rows .lv-row:not(.lv-marker) .lv-rep").all_inner_texts()
    assert shown and set(shown) == {replicas[1].name}, set(shown)


def test_a_viewer_signed_out_stops_and_says_so_instead_of_retrying(login_as, engine, artifacts):
    """A refused socket (4401 here: the session is gone) cannot succeed by retrying: the
    viewer and the page's live badge stop and say why, with no countdown."""
    container = engine(TICKER, "signedout")
    page = login_as("dev")
    _container_page(page, container)
    expect(page.locator("[data-lv-state]")).to_have_text("● live")
    page.context.clear_cookies()
    page.evaluate(f"{VIEWER}.disconnect()")
    state = page.locator("[data-lv-state]")
    expect(state).to_have_text("stopped: you are signed out: sign in again", timeout=10_000)
    time.sleep(2.5)  # a retry would have shown "reconnecting in …" by now
    expect(state).to_have_text("stopped: you are signed out: sign in again")
    page.screenshot(path=str(artifacts / "logs-signed-out.png"))

"""The ``berth`` command line as a user runs it: a subprocess against a real server with
the embedded worker, the real engine and registry. Every command in human and JSON
output (validated against the schemas shipped in ``berth_cli/schemas``), exit codes,
deploy progress to success and to a failed health check, logs followed across a server
restart."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
import uuid
from pathlib import Path

import docker
import jsonschema
import pytest
import requests

from registry.client import RegistryClient
from tests.registries import image_variant
from tests.servers import PortalServer
from tests.stack import free_port_base

pytestmark = pytest.mark.integration

BERTH = Path(sys.executable).parent / "berth"
SCHEMAS = Path(__file__).resolve().parents[2] / "berth_cli" / "schemas"
SEEN_KINDS: set[str] = set()
HTTP = (
    "busybox mkdir -p /www && echo ok > /www/health && echo serving $PORT && "
    "exec httpd -f -p 127.0.0.1:$PORT -h /www"
)


def run_berth(*args, env=None, config=None, stdin=None, timeout=120, check=None):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
    environ.update({"BERTH_CONFIG": str(config or "/nonexistent/berth.toml"), **(env or {})})
    result = subprocess.run(
        [str(BERTH), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environ,
        timeout=timeout,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )
    if check is not None:
        assert result.returncode == check, (args, result.returncode, result.stdout, result.stderr)
    return result


def validated(result) -> dict:
    """The JSON document of a command, checked against the schema of its kind."""
    doc = json.loads(result.stdout)
    assert doc["schema"] == "berth.cli/v1"
    schema = json.loads((SCHEMAS / f"{doc['kind']}.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)
    SEEN_KINDS.add(doc["kind"])
    return doc


@pytest.fixture(scope="module")
def server(tmp_path_factory, docker_host, registry_url):
    portal = PortalServer(tmp_path_factory.mktemp("cli-server")).start()
    yield portal
    portal.stop()
    client = docker.DockerClient(base_url=docker_host, version="auto")
    for container in client.containers.list(all=True, filters={"label": "cli.test"}):
        container.remove(force=True)
    client.close()


@pytest.fixture(scope="module")
def admin(server):
    """BERTH_URL and BERTH_TOKEN of the demo's administrator."""
    return {"BERTH_URL": server.url, "BERTH_TOKEN": server.token("admin", "berth-admin")}


@pytest.fixture(scope="module")
def digests(server, registry_url):
    client = RegistryClient(registry_url)
    v1 = client.resolve("demo/app", "latest")
    v2 = image_variant(client, "demo/app", v1, uuid.uuid4().hex).digest
    return v1, v2


def api(server, admin, method, path, **kwargs):
    response = requests.request(
        method,
        server.url + path,
        headers={"Authorization": f"Token {admin['BERTH_TOKEN']}"},
        timeout=30,
        **kwargs,
    )
    assert response.status_code < 400, response.text
    return response.json()


def make_service(server, admin, environment: str, *, replicas=2, health_path="/health") -> str:
    name = f"cli{uuid.uuid4().hex[:6]}"
    service = api(server, admin, "POST", "/api/services/", json={"name": name, "registry": "local", "repository": "demo/app"})  # fmt: skip
    port = free_port_base(replicas)
    document = {
        "replicas": replicas,
        "command": ["sh", "-c", HTTP],
        "port": port,
        "labels": {"cli.test": "1"},
        # A start period: on a loaded machine httpd can take longer to listen than two
        # probes half a second apart (a deploy once failed that way in a fresh clone).
        "health_check": {
            "http_path": health_path,
            "interval": 0.5,
            "timeout": 1,
            "retries": 2,
            "start_period": 3,
        },  # fmt: skip
        "strategy": {"type": "rolling", "batch_size": 1},
        "stop_grace_period": 1,
    }
    api(server, admin, "POST", f"/api/services/{service['id']}/configs/", json={"environment": environment, "document": document})  # fmt: skip
    return name


@pytest.fixture(scope="module")
def web(server, admin, digests):
    """A service of two HTTP replicas in Dev, deployed through ``berth deploy``."""
    name = make_service(server, admin, "dev")
    deployed = run_berth("deploy", name, "--env", "dev", "--digest", digests[0], env=admin)
    return name, deployed


@pytest.fixture(scope="module")
def inventory(server, admin, digests):
    """The registry's tags read into Berth (a queued refresh), so tags resolve."""
    api(server, admin, "POST", "/api/registries/1/refresh/")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        images = api(server, admin, "GET", "/api/images/", params={"repository": "demo/app"})
        if any("latest" in image["tags"] for image in images["results"]):
            return
        time.sleep(0.5)
    raise AssertionError("the registry refresh never showed demo/app:latest")


# Help, usage, sign-in, contexts -----------------------------------------------------------


def test_help_documents_the_exit_codes_and_usage_errors_exit_2():
    result = run_berth("--help", check=0)
    for line in ("0    ok", "2    usage", "3    not found", "4    cannot reach the server"):
        assert line in result.stdout
    assert run_berth("deploy").returncode == 2
    assert run_berth("deploy", "web", "--env", "dev").returncode == 2  # no digest, tag or from


def test_without_a_context_commands_say_how_to_sign_in(tmp_path):
    result = run_berth("envs", config=tmp_path / "none.toml", check=3)
    assert "berth login" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_server_exits_4_with_a_message():
    result = run_berth("envs", env={"BERTH_URL": "http://127.0.0.1:9", "BERTH_TOKEN": "x"}, check=4)
    assert "Cannot reach the server" in result.stderr
    assert "Traceback" not in result.stderr


def test_login_saves_a_private_context_and_contexts_can_be_listed_and_chosen(
    server, admin, tmp_path
):
    config = tmp_path / "berth" / "config.toml"
    result = run_berth(
        "login", server.url, "-u", "dev", "--password-stdin", "-o", "json",
        config=config, stdin="berth-dev\n", check=0,
    )  # fmt: skip
    assert validated(result)["user"] == "dev"
    assert config.stat().st_mode & 0o777 == 0o600
    assert "berth-dev" not in config.read_text()  # the token is kept, never the password

    run_berth("login", server.url, "--token", admin["BERTH_TOKEN"], "--name", "root", config=config, check=0)  # fmt: skip
    listed = validated(run_berth("context", "list", "-o", "json", config=config, check=0))
    assert [(c["name"], c["current"]) for c in listed["items"]] == [
        (server.url.split("//")[1], False),
        ("root", True),
    ]
    assert admin["BERTH_TOKEN"] not in json.dumps(listed)
    assert "root" in run_berth("context", "list", config=config, check=0).stdout

    # The developer sees Dev and Test; the administrator's context sees Ops too.
    run_berth("context", "use", server.url.split("//")[1], config=config, check=0)
    seen = validated(run_berth("envs", "-o", "json", config=config, check=0))
    assert [e["slug"] for e in seen["items"]] == ["dev", "test"]
    both = run_berth("envs", "-o", "json", "--context", "root", config=config, check=0)
    assert [e["slug"] for e in validated(both)["items"]] == ["dev", "test", "ops"]
    # BERTH_TOKEN overrides the file's token for the current context's server.
    override = run_berth("envs", "-o", "json", config=config, env={"BERTH_TOKEN": admin["BERTH_TOKEN"]}, check=0)  # fmt: skip
    assert len(json.loads(override.stdout)["items"]) == 3
    assert run_berth("context", "use", "nowhere", config=config).returncode == 3


def test_a_wrong_password_or_token_is_refused_with_exit_3(server, tmp_path):
    config = tmp_path / "config.toml"
    wrong = run_berth("login", server.url, "-u", "dev", "--password-stdin", config=config, stdin="nope\n", check=3)  # fmt: skip
    assert "Wrong username or password" in wrong.stderr
    run_berth("login", server.url, "--token", "berth_not-a-token", config=config, check=3)
    assert not config.exists()
    # Without a terminal, login never prompts.
    assert run_berth("login", server.url, config=config).returncode == 2


# Reading and deploying ---------------------------------------------------------------------


def test_deploy_shows_progress_and_exits_0_when_it_succeeds(web):
    name, deployed = web
    assert deployed.returncode == 0, deployed.stderr
    assert "Replica 1 of 2 is healthy" in deployed.stderr
    assert "Replica 2 of 2 is healthy" in deployed.stderr
    assert "succeeded" in deployed.stdout


def test_every_read_command_answers_a_table_and_json_of_its_schema(
    server, admin, web, digests, inventory
):
    name, _ = web
    commands = [
        ("envs",),
        ("ps", "dev"),
        ("services",),
        ("images", "demo/app"),
        ("history", name, "--env", "dev"),
        ("audit", "--env", "dev"),
        ("audit",),
        ("config", "pull", name, "--env", "dev"),
    ]
    for command in commands:
        human = run_berth(*command, env=admin, check=0)
        assert human.stdout.strip(), command
        doc = validated(run_berth(*command, "-o", "json", env=admin, check=0))
        assert doc.get("items", [None]), command  # every list here has rows
    ps = validated(run_berth("ps", "dev", "-o", "json", env=admin))
    replicas = [c for c in ps["items"] if c["service"] == name]
    assert {(c["state"], c["health"]) for c in replicas} == {("running", "healthy")}
    assert len(replicas) == 2
    images = validated(run_berth("images", "demo/app", "-o", "json", env=admin))
    assert digests[0] in {i["digest"] for i in images["items"]}
    history = validated(run_berth("history", name, "--env", "dev", "-o", "json", env=admin))
    assert [(d["action"], d["status"], d["digest"]) for d in history["items"]] == [
        ("deploy", "succeeded", digests[0])
    ]
    audit = validated(run_berth("audit", "--env", "dev", "-o", "json", env=admin))
    assert "deployment.succeeded" in {e["action"] for e in audit["items"]}


def test_config_pull_diff_push_and_up(server, admin, web, tmp_path):
    name, _ = web
    path = tmp_path / "web.yaml"
    pulled = validated(run_berth("config", "pull", name, "--env", "dev", "-f", str(path), "-o", "json", env=admin, check=0))  # fmt: skip
    assert path.read_text() == pulled["text"]
    same = validated(run_berth("config", "diff", name, "--env", "dev", str(path), "-o", "json", env=admin, check=0))  # fmt: skip
    assert not same["changed"]
    path.write_text(path.read_text().replace("replicas: 2", "replicas: 1"))
    diff = run_berth("config", "diff", name, "--env", "dev", str(path), env=admin, check=0)
    assert "-replicas: 2" in diff.stdout and "+replicas: 1" in diff.stdout
    pushed = run_berth("config", "push", name, "--env", "dev", str(path), "-m", "one is enough", "-o", "json", env=admin, check=0)  # fmt: skip
    revision = validated(pushed)["revision"]
    assert (revision["revision"], revision["comment"]) == (2, "one is enough")
    up = validated(run_berth("up", name, "--env", "dev", "-o", "json", env=admin, check=0))
    assert (up["deployment"]["status"], up["deployment"]["revision"]) == ("succeeded", 2)
    bad = tmp_path / "bad.json"
    bad.write_text('{"replicas": "many"}')
    refused = run_berth("config", "push", name, "--env", "dev", str(bad), env=admin, check=1)
    assert "replicas" in refused.stderr and "Traceback" not in refused.stderr


def test_at_a_terminal_an_operation_shows_a_progress_bar_and_each_replica(admin, web):
    name, _ = web
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")} | admin
    berth = subprocess.Popen(
        [str(BERTH), "restart", name, "--env", "dev"], stdin=slave, stdout=slave, stderr=slave, env=environ,
    )  # fmt: skip
    os.close(slave)
    seen = bytearray()
    deadline = time.monotonic() + 90
    while berth.poll() is None and time.monotonic() < deadline:
        if select.select([master], [], [], 0.2)[0]:
            with contextlib.suppress(OSError):
                seen.extend(os.read(master, 65536))
    with contextlib.suppress(OSError):
        while select.select([master], [], [], 0.2)[0] and (chunk := os.read(master, 65536)):
            seen.extend(chunk)
    os.close(master)
    assert berth.wait(timeout=10) == 0
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.decode(errors="replace"))
    assert "100%" in screen and "━" in screen, screen  # the bar
    # Earlier tests may have scaled the service: every replica the restart names ends healthy.
    replicas = int(re.search(r"(\d+) of \1 restarted", screen).group(1))
    for slot in range(1, replicas + 1):
        assert re.search(rf"replica {slot} +healthy", screen), screen
    assert "Restart" in screen and "succeeded" in screen


def test_operations_rollback_and_wait(server, admin, digests, inventory):
    name = make_service(server, admin, "test", replicas=1)
    first = run_berth("deploy", name, "--env", "test", "--tag", "latest", "-o", "json", env=admin, check=0)  # fmt: skip
    assert validated(first)["deployment"]["digest"] == digests[0]
    started = validated(run_berth("deploy", name, "--env", "test", "--digest", digests[1], "--no-wait", "-o", "json", env=admin, check=0))  # fmt: skip
    assert started["deployment"]["status"] in ("pending", "running")
    waited = validated(run_berth("wait", "deployment", str(started["deployment"]["id"]), "-o", "json", env=admin, check=0))  # fmt: skip
    assert waited["deployment"]["status"] == "succeeded"
    back = validated(run_berth("rollback", name, "--env", "test", "-o", "json", env=admin, check=0))
    assert (back["deployment"]["digest"], back["deployment"]["rollback_of"]) == (digests[0], waited["deployment"]["id"])  # fmt: skip
    for command, action in (
        (("scale", name, "2"), "deploy"),
        (("restart", name), "restart"),
        (("stop", name), "stop"),
        (("down", name), "stop"),
    ):
        done = validated(run_berth(*command, "--env", "test", "-o", "json", env=admin, check=0))
        assert (done["deployment"]["action"], done["deployment"]["status"]) == (action, "succeeded")
    again = run_berth("deploy", name, "--env", "test", "--from", "test", env=admin, check=0)
    assert "succeeded" in again.stdout
    assert run_berth("wait", "deployment", "999999", env=admin).returncode == 3


def test_a_failed_health_check_fails_the_deploy_with_exit_1(server, admin, digests):
    name = make_service(server, admin, "dev", replicas=1, health_path="/missing")
    result = run_berth("deploy", name, "--env", "dev", "--digest", digests[0], env=admin, check=1)
    assert "failed its health check" in result.stderr + result.stdout
    doc = validated(run_berth("history", name, "--env", "dev", "-o", "json", env=admin))
    assert doc["items"][0]["status"] == "failed"


def test_a_protected_environment_needs_confirm_when_stdin_is_not_a_terminal(
    server, admin, web, digests
):
    name, _ = web
    refused = run_berth("deploy", name, "--env", "ops", "--digest", digests[0], env=admin, check=2)
    assert "--confirm ops" in refused.stderr
    assert run_berth("deploy", name, "--env", "ops", "--digest", digests[0], "--confirm", "dev", env=admin).returncode == 2  # fmt: skip
    rows = api(server, admin, "GET", "/api/deployments/", params={"service": name, "environment": "ops"})  # fmt: skip
    assert rows["results"] == []  # nothing was asked of the server
    # Confirmed, the server decides: the digest was never promoted into Ops.
    confirmed = run_berth("deploy", name, "--env", "ops", "--digest", digests[0], "--confirm", "ops", env=admin, check=1)  # fmt: skip
    assert "Traceback" not in confirmed.stderr and confirmed.stderr.strip()


def test_promote_and_wait_for_the_promotion(server, admin, web, digests):
    result = run_berth(
        "promote", f"demo/app@{digests[0]}", "--from", "dev", "--note", "tested by the CLI", "-o", "json",
        env=admin, check=0,
    )  # fmt: skip
    promotion = validated(result)["promotion"]
    assert (promotion["source_environment"], promotion["target_environment"], promotion["status"]) == ("dev", "test", "succeeded")  # fmt: skip
    waited = validated(run_berth("wait", "promotion", str(promotion["id"]), "-o", "json", env=admin, check=0))  # fmt: skip
    assert waited["promotion"]["note"] == "tested by the CLI"
    assert (
        run_berth("promote", "no-digest", "--from", "dev", "--note", "x", env=admin).returncode == 2
    )


def test_a_stranger_is_refused_with_exit_3(server, admin, web):
    server.manage("shell", "-c", "from django.contrib.auth import get_user_model as g; g().objects.filter(username='stranger').exists() or g().objects.create_user('stranger', password='stranger-pass')")  # fmt: skip
    stranger = {"BERTH_URL": server.url, "BERTH_TOKEN": server.token("stranger", "stranger-pass")}
    name, _ = web
    ps = validated(run_berth("ps", "dev", "-o", "json", env=admin, check=0))
    container = next(c["name"] for c in ps["items"] if c["service"] == name)
    assert validated(run_berth("envs", "-o", "json", env=stranger, check=0))["items"] == []
    for command in (("ps", "dev"), ("history", name, "--env", "dev"), ("logs", container)):
        result = run_berth(*command, env=stranger, check=3)
        assert "Traceback" not in result.stderr and result.stderr.startswith("berth: ")


# Logs ------------------------------------------------------------------------------------------


def test_logs_of_a_service_merge_its_replicas_with_their_names(admin, web):
    name, _ = web
    merged = run_berth("logs", name, "--env", "dev", "--tail", "all", env=admin, check=0)
    assert merged.stdout.splitlines()
    for line in merged.stdout.splitlines():
        replica, _, text = line.partition(" | ")
        assert replica.startswith(f"{name}-dev-") and text.startswith("serving "), line
    lines = [json.loads(line) for line in run_berth("logs", name, "--env", "dev", "-o", "json", env=admin, check=0).stdout.splitlines()]  # fmt: skip
    assert lines
    for line in lines:
        jsonschema.validate(line, json.loads((SCHEMAS / "log_line.json").read_text()))
        assert line["replica"].startswith(name)
    SEEN_KINDS.add("log_line")


def test_logs_follow_a_container_in_order_across_a_server_restart_without_duplicates(
    server, admin, docker_host
):
    client = docker.DockerClient(base_url=docker_host, version="auto")
    count = 400
    container = client.containers.run(
        os.environ.get("BERTH_TEST_IMAGE", "berth/testapp:latest"),
        ["sh", "-c", f"i=0; while [ $i -lt {count} ]; do i=$((i+1)); echo line-$i; sleep 0.04; done; sleep 60"],
        name=f"cli-logs-{uuid.uuid4().hex[:8]}",
        labels={"berth.environment": "dev", "cli.test": "1"},
        network_mode="none",
        detach=True,
    )  # fmt: skip
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")} | admin
    follower = subprocess.Popen(
        [str(BERTH), "logs", "-f", "--tail", "all", container.name],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ,
    )  # fmt: skip
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.extend(iter(follower.stdout.readline, "")))
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while len(received) < 40 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(received) >= 40, (
            follower.stderr.read() if follower.poll() is not None else received
        )
        server.stop()  # the container keeps logging while the server is away
        server.start()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (received and received[-1] == f"line-{count}\n"):
            time.sleep(0.2)
        follower.send_signal(signal.SIGINT)  # Ctrl-C
        assert follower.wait(timeout=10) == 0
    finally:
        if follower.poll() is None:
            follower.kill()
        reader.join(timeout=5)
        container.remove(force=True)
        client.close()
    stderr = follower.stderr.read()
    assert "Traceback" not in stderr
    assert "reconnected" in stderr
    assert [line.rstrip("\n") for line in received] == [f"line-{i}" for i in range(1, count + 1)]


# Exec --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shell_container(server, docker_host):
    client = docker.DockerClient(base_url=docker_host, version="auto")
    container = client.containers.run(
        os.environ.get("BERTH_TEST_IMAGE", "berth/testapp:latest"),
        ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"],
        name=f"cli-exec-{uuid.uuid4().hex[:8]}",
        labels={"berth.environment": "dev", "cli.test": "1"},
        network_mode="none",
        detach=True,
    )
    yield container.name
    container.remove(force=True)
    client.close()


def test_exec_of_a_command_returns_its_exit_code_and_streams(admin, shell_container):
    result = run_berth("exec", shell_container, "--", "sh", "-c", "echo out; echo err >&2; exit 7", env=admin)  # fmt: skip
    assert (result.returncode, result.stdout, result.stderr) == (7, "out\n", "err\n")
    piped = run_berth("exec", shell_container, "--", "sh", "-c", "tr a-z A-Z", env=admin, stdin="hello\n", check=0)  # fmt: skip
    assert piped.stdout == "HELLO\n"
    doc = validated(run_berth("exec", shell_container, "-o", "json", "--", "sh", "-c", "echo hi; exit 3", env=admin, check=3))  # fmt: skip
    assert (doc["exit_code"], doc["stdout"]) == (3, "hi\n")


def test_exec_is_refused_with_exit_3_for_a_stranger_and_a_missing_container(
    server, admin, shell_container
):
    assert run_berth("exec", "no-such-container", "--", "true", env=admin).returncode == 3
    server.manage("shell", "-c", "from django.contrib.auth import get_user_model as g; g().objects.filter(username='stranger').exists() or g().objects.create_user('stranger', password='stranger-pass')")  # fmt: skip
    stranger = {"BERTH_URL": server.url, "BERTH_TOKEN": server.token("stranger", "stranger-pass")}
    refused = run_berth("exec", shell_container, "--", "true", env=stranger, check=3)
    assert refused.stderr.startswith("berth: ") and "Traceback" not in refused.stderr


def test_an_interactive_exec_runs_a_shell_in_a_terminal_that_follows_resizes(
    admin, shell_container
):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")} | admin
    berth = subprocess.Popen(
        [str(BERTH), "exec", shell_container], stdin=slave, stdout=slave, stderr=slave,
        env=environ, start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    seen = bytearray()

    def until(token: bytes, timeout: float = 15) -> bool:
        deadline = time.monotonic() + timeout
        while token not in seen and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    seen.extend(os.read(master, 4096))
                except OSError:
                    break
        return token in seen

    try:
        assert until(b"# "), bytes(seen)  # the prompt
        os.write(master, b"stty size; echo sum-$((40+2))\r")
        assert until(b"sum-42") and b"30 100" in seen, bytes(seen)
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.kill(berth.pid, signal.SIGWINCH)
        time.sleep(0.5)
        os.write(master, b"stty size\r")
        assert until(b"40 120"), bytes(seen)
        os.write(master, b"exit 5\r")
        assert berth.wait(timeout=15) == 5
    finally:
        if berth.poll() is None:
            berth.kill()
        os.close(master)


def test_every_output_kind_was_validated():
    """Runs last in this module: every schema shipped was exercised by a command above."""
    shipped = {path.stem for path in SCHEMAS.glob("*.json")}
    missing = shipped - SEEN_KINDS
    assert not missing, f"no command above answered these kinds: {sorted(missing)}"

"""Live container logs against the real engine: the log websocket (backlog and live lines,
tail, resume, the slow-viewer policy, fan-out to many viewers from one reader, permissions,
container exit, engine gone), the streaming download, and the environment events socket."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import threading

import pytest
from asgiref.sync import sync_to_async
from channels.testing import HttpCommunicator
from django.test import AsyncClient
from django.urls import reverse

from environments.live import logs
from portal.asgi import application
from tests.ws import WebsocketCommunicator

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

N = 2000
# 2000 numbered lines on each stream, spread over ~1 s so viewers see backlog and live.
NUMBERED = (
    f"for i in $(seq 1 {N}); do echo out $i; echo err $i >&2; "
    "if [ $((i % 200)) = 0 ]; then sleep 0.1; fi; done"
)


# Scripts wait for the test's go (a file created with docker exec) where timing matters.
WAIT_FOR_GO = "while [ ! -e /tmp/go ]; do sleep 0.05; done"


async def _go(container) -> None:
    result = await sync_to_async(container.exec_run)(["sh", "-c", ": > /tmp/go"])
    assert result.exit_code == 0


async def _written(container, *texts: str, timeout: float = 20) -> None:
    """Wait until the container's log has all ``texts``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        written = (await sync_to_async(container.logs)()).decode().splitlines()
        if all(text in written for text in texts):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{texts} not written within {timeout} s")


def _socket(secret: str | None, container_id: str, query: str = "") -> WebsocketCommunicator:
    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
    if secret:
        headers.append((b"authorization", f"Token {secret}".encode()))
    path = f"/ws/containers/{container_id}/logs/" + (f"?{query}" if query else "")
    return WebsocketCommunicator(application, path, headers=headers)


async def _receive(communicator, done, timeout: float = 20):
    """Lines per stream and other messages until ``done(lines, others)``; acks each batch."""
    lines: dict[str, list[dict]] = {"stdout": [], "stderr": []}
    others: list[dict] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not done(lines, others):
        message = await communicator.receive_json_from(timeout=max(deadline - loop.time(), 0.1))
        if message["type"] == "lines":
            for line in message["lines"]:
                lines[line["stream"]].append(line)
            await communicator.send_json_to({"type": "ack", "seq": message["seq"]})
        elif message["type"] == "live":
            communicator.live = True  # the backlog is complete
        else:
            others.append(message)
    return lines, others


async def _until_live(communicator):
    """The backlog: lines until the socket says what follows is live."""
    return (await _receive(communicator, lambda *_: getattr(communicator, "live", False)))[0]


def _complete(lines, others) -> bool:
    return len(lines["stdout"]) >= N and len(lines["stderr"]) >= N


def _assert_numbered(lines: dict[str, list[dict]]) -> None:
    for stream, word in (("stdout", "out"), ("stderr", "err")):
        assert [line["text"] for line in lines[stream]] == [f"{word} {i}" for i in range(1, N + 1)]
        stamps = [line["ts"] for line in lines[stream]]
        assert stamps == sorted(stamps) and all(len(ts) == 30 for ts in stamps)


async def test_every_line_arrives_once_in_order_and_tagged(run_container, secret_for):
    container = run_container(NUMBERED + "; sleep 30")
    await asyncio.sleep(0.25)  # some lines come from the backlog, the others live
    viewer = _socket(await secret_for("developer"), container.id, "tail=all")
    try:
        assert (await viewer.connect(timeout=10))[0]
        lines, others = await _receive(viewer, _complete)
        assert others == []
        _assert_numbered(lines)
        assert await viewer.receive_nothing(timeout=0.3)
    finally:
        await viewer.disconnect()


async def test_tail_counts_the_last_lines_of_both_streams(run_container, secret_for):
    container = run_container(f"{NUMBERED}; {WAIT_FOR_GO}; echo late; echo late >&2; sleep 30")
    await _written(container, "out 2000", "err 2000")
    secret = await secret_for("developer")
    tail10, tail0 = (
        _socket(secret, container.id, "tail=10"),
        _socket(secret, container.id, "tail=0"),
    )
    try:
        assert (await tail10.connect(timeout=10))[0] and (await tail0.connect(timeout=10))[0]
        backlog = await _until_live(tail10)
        backlog = backlog["stdout"] + backlog["stderr"]
        assert len(backlog) == 10 and all(int(line["text"].split()[1]) > N - 10 for line in backlog)
        assert await _until_live(tail0) == {"stdout": [], "stderr": []}
        await _go(container)
        for viewer in (tail10, tail0):  # tail=0 gets nothing old, not even what the reader re-read
            got, _ = await _receive(
                viewer, lambda lines, _: len(lines["stdout"]) + len(lines["stderr"]) >= 2
            )
            assert [line["text"] for s in ("stdout", "stderr") for line in got[s]] == ["late"] * 2
            assert await viewer.receive_nothing(timeout=0.2)
    finally:
        await tail10.disconnect()
        await tail0.disconnect()


async def test_resuming_with_the_last_timestamps_has_no_gap_and_no_duplicate(
    run_container, secret_for
):
    container = run_container(f"sleep 0.3; {NUMBERED}; sleep 30")
    secret = await secret_for("developer")
    first = _socket(secret, container.id, "tail=all")
    try:
        assert (await first.connect(timeout=10))[0]
        before, _ = await _receive(first, lambda lines, _: len(lines["stdout"]) >= 300)
    finally:
        await first.disconnect()
    await asyncio.sleep(0.3)  # lines keep coming while nobody follows
    cursors = f"since_stdout={before['stdout'][-1]['ts']}&since_stderr="
    cursors += before["stderr"][-1]["ts"] if before["stderr"] else "1"
    second = _socket(secret, container.id, cursors)
    try:
        assert (await second.connect(timeout=10))[0]
        after, others = await _receive(
            second,
            lambda lines, _: all(len(before[s]) + len(lines[s]) >= N for s in ("stdout", "stderr")),
        )
        assert others == []
        assert await second.receive_nothing(timeout=0.3)
    finally:
        await second.disconnect()
    _assert_numbered({s: before[s] + after[s] for s in ("stdout", "stderr")})
    assert len(after["stdout"]) > 0

    # One cursor for both streams works as well once the container is quiet.
    last = max(after["stdout"][-1]["ts"], after["stderr"][-1]["ts"])
    third = _socket(secret, container.id, f"since={last}")
    try:
        assert (await third.connect(timeout=10))[0]
        assert await _until_live(third) == {"stdout": [], "stderr": []}
        assert await third.receive_nothing(timeout=0.5)
    finally:
        await third.disconnect()


async def test_a_slow_viewer_skips_the_oldest_batches_and_nobody_else_waits(
    run_container, secret_for, personas, monkeypatch
):
    total = 20000
    container = run_container(
        f"{WAIT_FOR_GO}; for i in $(seq 1 {total}); do echo out $i; "
        "if [ $((i % 2000)) = 0 ]; then sleep 0.05; fi; done; sleep 30"
    )
    secret = await secret_for("developer")
    fast, slow = _socket(secret, container.id, "tail=0"), _socket(secret, container.id, "tail=0")
    try:
        assert (await fast.connect(timeout=10))[0]
        monkeypatch.setattr(logs, "QUEUE_BATCHES", 6)  # the slow one's: the policy is tested
        assert (await slow.connect(timeout=10))[0]
        assert (await fast.receive_json_from(timeout=10)) == {"type": "live"}
        assert (await slow.receive_json_from(timeout=10)) == {"type": "live"}
        await _go(container)
        lines, others = await _receive(fast, lambda lines, _: len(lines["stdout"]) >= total)
        assert others == []  # the fast viewer got everything while the slow one never acked
        assert [line["text"] for line in lines["stdout"]] == [
            f"out {i}" for i in range(1, total + 1)
        ]

        # The slow viewer now reads and acks: its window, a skipped notice, the newest batches.
        seen, skipped = [], []
        while len(seen) + sum(s["count"] for s in skipped) < total:
            message = await slow.receive_json_from(timeout=10)
            if message["type"] == "skipped":
                skipped.append(message)
                gap_at = len(seen)
                continue
            assert message["type"] == "lines"
            seen += [line["text"] for line in message["lines"]]
            await slow.send_json_to({"type": "ack", "seq": message["seq"]})
        assert len(skipped) == 1 and skipped[0]["count"] > 0
        numbers = [int(text.split()[1]) for text in seen]
        assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
        first_missing = numbers[gap_at - 1] + 1
        assert numbers[gap_at] == first_missing + skipped[0]["count"]
    finally:
        await fast.disconnect()
        await slow.disconnect()

    # The notice names the dropped range, which the download returns exactly.
    client = AsyncClient()
    await client.aforce_login(personas["developer"])
    url = reverse("env-container-logs-download", args=["dev", container.id])
    response = await client.get(url, {"since": skipped[0]["since"], "until": skipped[0]["until"]})
    body = b"".join([chunk async for chunk in response.streaming_content]).decode()
    texts = [line.split(" ", 2)[2] for line in body.splitlines()]
    assert texts == [f"out {i}" for i in range(first_missing, numbers[gap_at])]


async def test_when_every_viewer_is_behind_the_reader_waits_and_nothing_is_lost(
    run_container, secret_for, monkeypatch
):
    total = 20000
    container = run_container(f"{WAIT_FOR_GO}; seq 1 {total}; sleep 30")
    monkeypatch.setattr(logs, "QUEUE_BATCHES", 6)  # dropping would start at 6 batches
    viewer = _socket(await secret_for("developer"), container.id, "tail=0")
    try:
        assert (await viewer.connect(timeout=10))[0]
        assert (await viewer.receive_json_from(timeout=10)) == {"type": "live"}
        await _go(container)
        await asyncio.sleep(3)  # not reading: the socket's window and half the queue fill
        lines, others = await _receive(viewer, lambda lines, _: len(lines["stdout"]) >= total)
    finally:
        await viewer.disconnect()
    assert others == []  # no skipped notice
    assert [line["text"] for line in lines["stdout"]] == [str(i) for i in range(1, total + 1)]


async def _messages(communicator, count: int, timeout: float = 20) -> list[list[str]]:
    """The texts of each ``lines`` message until ``count`` lines came, acking each at once."""
    messages, total = [], 0
    while total < count:
        message = await communicator.receive_json_from(timeout=timeout)
        assert message["type"] == "lines", message
        messages.append([line["text"] for line in message["lines"]])
        total += len(message["lines"])
        await communicator.send_json_to({"type": "ack", "seq": message["seq"]})
    return messages


# ~50 lines/s: a line every 20 ms or so, closer than the 50 ms a batch could wait.
PACED = f"{WAIT_FOR_GO}; i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo $i; sleep 0.02; done"


async def test_a_line_goes_to_an_idle_viewer_at_once_not_in_a_batch(run_container, secret_for):
    container = run_container(PACED + "; sleep 30")
    viewer = _socket(await secret_for("developer"), container.id, "tail=0")
    try:
        assert (await viewer.connect(timeout=10))[0]
        assert (await viewer.receive_json_from(timeout=10)) == {"type": "live"}
        await _go(container)
        messages = await _messages(viewer, 60)
    finally:
        await viewer.disconnect()
    sizes = sorted(len(texts) for texts in messages)
    # A viewer that takes each message at once is idle when the next line is written:
    # the line is not held for a batch window (which would put 2-3 lines in each).
    assert sizes[len(sizes) // 2] == 1, sizes
    assert [text for texts in messages for text in texts][:60] == [str(i) for i in range(1, 61)]


async def test_lines_that_pile_up_for_a_busy_viewer_go_together_in_order(run_container, secret_for):
    container = run_container(PACED + "; sleep 30")
    viewer = _socket(await secret_for("developer"), container.id, "tail=0")
    try:
        assert (await viewer.connect(timeout=10))[0]
        assert (await viewer.receive_json_from(timeout=10)) == {"type": "live"}
        await _go(container)
        prompt = await _messages(viewer, 20)
        await asyncio.sleep(2)  # busy: its window of unacknowledged messages fills, then
        late = await _messages(viewer, 300 - sum(map(len, prompt)))  # the rest queues
        others = []
        while not await viewer.receive_nothing(timeout=0.5):
            others.append(await viewer.receive_json_from())
    finally:
        await viewer.disconnect()
    texts = [text for texts in prompt + late for text in texts]
    assert texts == [str(i) for i in range(1, 301)]  # in order, none lost, none twice
    assert all(message["type"] != "skipped" for message in others)
    # What queued while it was busy came as one message of many lines, not one per line.
    assert max(len(texts) for texts in late) >= 20, [len(t) for t in late]


def _reader_threads(container_id: str) -> list[threading.Thread]:
    prefix = f"berth-logs-{container_id[:12]}"
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


async def test_fifty_viewers_share_one_reader_which_closes_after_the_last(
    run_container, secret_for
):
    container = run_container("i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.05; done")
    secret = await secret_for("developer")
    viewers = [_socket(secret, container.id, "tail=5") for _ in range(50)]
    try:
        results = await asyncio.gather(*(v.connect(timeout=30) for v in viewers))
        assert all(connected for connected, _ in results)
        assert logs.reader_count() == 1
        assert len(_reader_threads(container.id)) == 2  # stdout and stderr
        for viewer in viewers:
            lines, _ = await _receive(viewer, lambda lines, _: len(lines["stdout"]) >= 8)
            ticks = [int(line["text"].split()[1]) for line in lines["stdout"]]
            assert ticks == list(range(ticks[0], ticks[0] + len(ticks)))
    finally:
        for viewer in viewers:
            await viewer.disconnect()
    assert logs.reader_count() == 0
    for _ in range(50):  # the streams are closed, so the reader thread ends promptly
        if not _reader_threads(container.id):
            break
        await asyncio.sleep(0.05)
    assert not _reader_threads(container.id)


async def test_permissions_decide_before_accept(run_container, secret_for):
    dev = run_container("sleep 30")
    ops = run_container("sleep 30", env="ops")
    cases = [
        (None, dev.id, 4401),
        ("tester", dev.id, 4403),  # sees Dev, may not read its logs
        ("operator", dev.id, 4403),
        ("stranger", dev.id, 4404),
        ("developer", ops.id, 4404),  # cannot see Ops at all
        ("developer", "0" * 64, 4404),  # no such container
        ("developer", "-bad", 4404),  # not a container reference
    ]
    for persona, container_id, expected in cases:
        secret = await secret_for(persona) if persona else None
        communicator = _socket(secret, container_id)
        connected, code = await communicator.connect(timeout=10)
        assert (connected, code) == (False, expected), (persona, container_id)
        await communicator.disconnect()
    bad = _socket(await secret_for("developer"), dev.id, "since=yesterday")
    assert await bad.connect(timeout=10) == (False, 4400)
    await bad.disconnect()
    assert logs.reader_count() == 0


async def test_a_container_that_exits_ends_the_stream_with_its_code(run_container, secret_for):
    container = run_container("echo hello; sleep 1; echo bye >&2; exit 3")
    viewer = _socket(await secret_for("developer"), container.id)
    try:
        assert (await viewer.connect(timeout=10))[0]
        lines, others = await _receive(viewer, lambda _, others: bool(others), timeout=15)
        assert [line["text"] for line in lines["stdout"]] == ["hello"]
        assert [line["text"] for line in lines["stderr"]] == ["bye"]
        assert others == [{"type": "end", "reason": "container exited (code 3)"}]
        assert (await viewer.receive_output(timeout=5))["type"] == "websocket.close"
    finally:
        await viewer.disconnect()
    assert logs.reader_count() == 0

    # Following an exited container gives its backlog and the same end at once.
    again = _socket(await secret_for("developer"), container.id)
    try:
        assert (await again.connect(timeout=10))[0]
        lines, others = await _receive(again, lambda _, others: bool(others), timeout=15)
        assert len(lines["stdout"]) == 1 and len(lines["stderr"]) == 1
        assert others == [{"type": "end", "reason": "container exited (code 3)"}]
    finally:
        await again.disconnect()


class _EngineProxy:
    """A unix socket forwarding to the real engine, which the test can pull away."""

    def __init__(self, target: str, path: str):
        self.target, self.path, self.writers = target, path, []

    async def start(self) -> str:
        self.server = await asyncio.start_unix_server(self._serve, path=self.path)
        return f"unix://{self.path}"

    async def _serve(self, reader, writer):
        upstream_reader, upstream_writer = await asyncio.open_unix_connection(self.target)
        self.writers += [writer, upstream_writer]

        async def pipe(source, sink):
            with contextlib.suppress(Exception):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    async def kill(self) -> None:
        self.server.close()
        for writer in self.writers:
            writer.close()
        os.unlink(self.path)


async def test_a_container_with_a_tty_streams_its_raw_output_as_lines(
    run_container, secret_for, personas
):
    container = run_container(f"{NUMBERED}; sleep 30", tty=True)  # one stream: stderr is stdout
    viewer = _socket(await secret_for("developer"), container.id, "tail=all")
    try:
        assert (await viewer.connect(timeout=10))[0]
        lines, _ = await _receive(viewer, lambda lines, _: len(lines["stdout"]) >= 2 * N)
    finally:
        await viewer.disconnect()
    texts = [line["text"] for line in lines["stdout"]]
    assert [t for t in texts if t.startswith("out")] == [f"out {i}" for i in range(1, N + 1)]
    assert [t for t in texts if t.startswith("err")] == [f"err {i}" for i in range(1, N + 1)]
    assert lines["stderr"] == []


async def test_a_long_line_cut_by_docker_arrives_whole(run_container, secret_for, personas):
    container = run_container('printf "%040000d\\n" 7; echo after')  # 16 KiB partials
    viewer = _socket(await secret_for("developer"), container.id)
    try:
        assert (await viewer.connect(timeout=10))[0]
        lines, _ = await _receive(viewer, lambda _, others: bool(others), timeout=15)
    finally:
        await viewer.disconnect()
    assert [line["text"] for line in lines["stdout"]] == ["0" * 39999 + "7", "after"]
    client = AsyncClient()
    await client.aforce_login(personas["developer"])
    response = await client.get(reverse("env-container-logs-download", args=["dev", container.id]))
    body = b"".join([chunk async for chunk in response.streaming_content]).decode()
    assert [line.split(" ", 2)[2] for line in body.splitlines()] == ["0" * 39999 + "7", "after"]


async def test_an_engine_that_goes_away_is_an_error_and_viewers_resume_when_it_returns(
    run_container, secret_for, environments, docker_host
):
    container = run_container("i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.05; done")
    proxy = _EngineProxy(
        docker_host.removeprefix("unix://"), tempfile.mktemp(prefix="berth-", suffix=".sock")
    )
    environments["dev"].endpoint_url = await proxy.start()
    await sync_to_async(environments["dev"].save)()
    viewer = _socket(await secret_for("developer"), container.id, "tail=1")
    try:
        assert (await viewer.connect(timeout=10))[0]
        lines, _ = await _receive(viewer, lambda lines, _: len(lines["stdout"]) >= 3)
        await proxy.kill()
        after, others = await _receive(viewer, lambda _, others: bool(others), timeout=15)
        lines["stdout"] += after["stdout"]
        assert others[0]["type"] == "error"
        assert "Cannot reach the Docker endpoint of Dev" in others[0]["message"]
        assert (await viewer.receive_output(timeout=5))["type"] == "websocket.close"
    finally:
        await viewer.disconnect()
    assert logs.reader_count() == 0
    # Test (on the real engine) has no such container and Dev cannot be asked: not a 404.
    again = _socket(await secret_for("developer"), container.id)
    assert await again.connect(timeout=10) == (False, 4503)
    await again.disconnect()

    # The engine comes back: resuming from the last line held goes on with the next one.
    held = [int(line["text"].split()[1]) for line in lines["stdout"]]
    await proxy.start()
    resumed = _socket(
        await secret_for("developer"), container.id, f"since_stdout={lines['stdout'][-1]['ts']}"
    )
    try:
        assert (await resumed.connect(timeout=10))[0]
        more, others = await _receive(resumed, lambda lines, _: len(lines["stdout"]) >= 5)
    finally:
        await resumed.disconnect()
        await proxy.kill()
    numbers = held + [int(line["text"].split()[1]) for line in more["stdout"]]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))  # no gap, no duplicate
    assert others == []


async def test_the_download_streams_the_whole_log(run_container, personas, environments):
    container = run_container(NUMBERED)
    await sync_to_async(container.wait)(timeout=30)
    url = reverse("env-container-logs-download", args=["dev", container.id])

    client = AsyncClient()
    await client.aforce_login(personas["developer"])
    response = await client.get(url)
    assert response.status_code == 200 and response.streaming
    assert response["Content-Disposition"] == f'attachment; filename="{container.name}.log"'
    body = b"".join([chunk async for chunk in response.streaming_content]).decode()
    rows = [line.split(" ", 2) for line in body.splitlines()]
    assert len(rows) == 2 * N
    assert [ts for ts, _, _ in rows] == sorted(ts for ts, _, _ in rows)
    lines = {
        stream: [{"ts": ts, "text": text} for ts, s, text in rows if s == stream]
        for stream in ("stdout", "stderr")
    }
    _assert_numbered(lines)

    since, until = lines["stdout"][99]["ts"], lines["stdout"][199]["ts"]
    response = await client.get(url, {"since": since, "until": until})
    body = b"".join([chunk async for chunk in response.streaming_content]).decode()
    texts = [line.split(" ", 2)[2] for line in body.splitlines() if " stdout " in line]
    assert texts == [f"out {i}" for i in range(100, 201)]

    for persona, status in (("tester", 403), ("stranger", 404)):
        other = AsyncClient()
        await other.aforce_login(personas[persona])
        assert (await other.get(url)).status_code == status
    ops_url = reverse("env-container-logs-download", args=["ops", container.id])
    operator = AsyncClient()
    await operator.aforce_login(personas["operator"])
    assert (await operator.get(ops_url)).status_code == 404  # not an Ops container


async def test_the_server_application_streams_the_download_from_its_async_view(
    run_container, personas
):
    """The server's handler runs sync views in one hop; the async download keeps
    Django's async chain, and streams through it."""
    container = run_container(NUMBERED)
    await sync_to_async(container.wait)(timeout=30)
    client = AsyncClient()
    await client.aforce_login(personas["developer"])
    headers = [
        (b"host", b"127.0.0.1"),
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
    ]

    async def get(url: str) -> tuple[int, bytes]:
        server = HttpCommunicator(application, "GET", url, headers=headers)
        await server.send_input({"type": "http.request", "body": b""})
        start, body = await server.receive_output(30), b""
        while (chunk := await server.receive_output(30)).get("more_body"):
            body += chunk.get("body", b"")
        return start["status"], body + chunk.get("body", b"")

    status, body = await get(reverse("env-container-logs-download", args=["dev", container.id]))
    assert status == 200, body[:300]
    assert len(body.decode().splitlines()) == 2 * N
    status, _ = await get(reverse("env-container", args=["dev", container.id]))
    assert status == 200


def _events_socket(secret: str | None, environment_id: int) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
    if secret:
        headers.append((b"authorization", f"Token {secret}".encode()))
    path = f"/ws/environments/{environment_id}/events/"
    return WebsocketCommunicator(application, path, headers=headers)


async def test_environment_events_of_its_containers_only(run_container, secret_for, environments):
    from environments.live.events import event_hub

    secret = await secret_for("developer")
    viewers = [_events_socket(secret, environments["dev"].pk) for _ in range(2)]
    try:
        for viewer in viewers:
            assert (await viewer.connect(timeout=10))[0]
            assert await viewer.receive_json_from(timeout=10) == {"type": "ready"}
        assert event_hub.reader_count() == 1
        other = run_container("sleep 0.2", env="test")  # not Dev's: never forwarded
        container = run_container("sleep 0.5; exit 4")
        for viewer in viewers:
            seen = []
            while not seen or seen[-1]["action"] != "die":
                message = await viewer.receive_json_from(timeout=10)
                assert message["type"] == "event"
                assert message["event"]["id"] != other.id
                if message["event"]["id"] == container.id:  # other Dev containers may run
                    seen.append(message["event"])
            assert [event["action"] for event in seen] == ["create", "start", "die"]
            assert seen[-1]["exit_code"] == 4 and seen[-1]["name"] == container.name
    finally:
        for viewer in viewers:
            await viewer.disconnect()
    assert event_hub.reader_count() == 0
    for _ in range(50):
        if not [t for t in threading.enumerate() if t.name == "berth-events-dev"]:
            break
        await asyncio.sleep(0.05)
    assert not [t for t in threading.enumerate() if t.name == "berth-events-dev"]

    stranger = _events_socket(await secret_for("stranger"), environments["dev"].pk)
    assert await stranger.connect(timeout=10) == (False, 4404)
    await stranger.disconnect()


async def test_the_events_socket_reports_a_container_the_test_stops(
    run_container, secret_for, environments
):
    container = run_container("trap 'exit 0' TERM; while true; do sleep 0.1; done")
    viewer = _events_socket(await secret_for("developer"), environments["dev"].pk)
    try:
        assert (await viewer.connect(timeout=10))[0]
        assert await viewer.receive_json_from(timeout=10) == {"type": "ready"}
        await sync_to_async(container.stop)(timeout=5)
        seen = []
        while "stop" not in [event["action"] for event in seen]:
            message = await viewer.receive_json_from(timeout=10)
            assert message["type"] == "event"
            if message["event"]["id"] == container.id:  # other Dev containers may come and go
                seen.append(message["event"])
    finally:
        await viewer.disconnect()
    assert [event["action"] for event in seen] == ["die", "stop"]
    assert seen[0]["exit_code"] == 0 and seen[0]["name"] == container.name

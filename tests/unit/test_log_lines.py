"""Parsing of ``docker logs --timestamps`` output, without an engine."""

from types import SimpleNamespace

import pytest

from environments.consumers.container_logs import parse_log_options
from environments.live.lines import LineSplitter, normalize_ts, ts_seconds
from environments.live.logs import Batch, Subscription


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T12:00:00.123456789Z", "2024-05-01T12:00:00.123456789Z"),
        ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00.000000000Z"),
        ("2024-05-01T14:00:00.5+02:00", "2024-05-01T12:00:00.500000000Z"),
        ("1714564800", "2024-05-01T12:00:00.000000000Z"),
        ("1714564800.000000001", "2024-05-01T12:00:00.000000001Z"),
    ],
)
def test_timestamps_are_normalized_to_dockers_fixed_width(value, expected):
    assert normalize_ts(value) == expected
    if value.startswith("17"):
        assert ts_seconds(expected) == pytest.approx(float(value), abs=1e-6)


@pytest.mark.parametrize("value", ["yesterday", "2024-05-01", "-1", "1714564800.1234567891"])
def test_other_times_are_refused(value):
    with pytest.raises(ValueError):
        normalize_ts(value)


def test_frames_become_lines_and_docker_partials_are_joined():
    ts1, ts2, ts3 = (f"2024-05-01T12:00:00.00000000{i}Z" for i in (1, 2, 3))
    splitter = LineSplitter(framed=True)
    assert splitter.feed(f"{ts1} first\n".encode()) == [(ts1, "first")]
    assert splitter.feed(f"{ts2} part one, ".encode()) == []
    assert splitter.feed(f"{ts3} part two\n".encode()) == [(ts2, "part one, part two")]
    assert splitter.feed(b"no timestamp\r\n") == [(ts2, "no timestamp")]


def test_raw_chunks_keep_the_partial_tail():
    splitter = LineSplitter(framed=False)
    ts = "2024-05-01T12:00:00.000000001Z"
    data = f"{ts} a\n{ts} b\n{ts} c".encode()
    lines = [line for i in range(0, len(data), 7) for line in splitter.feed(data[i : i + 7])]
    assert lines == [(ts, "a"), (ts, "b")]
    assert splitter.flush() == [(ts, "c")]


def test_query_options():
    assert parse_log_options(b"") == {"tail": 500, "cursors": {}}
    options = parse_log_options(b"since=1714564800&since_stderr=1714564801")
    assert options["tail"] == 10_000
    assert options["cursors"] == {
        "stdout": "2024-05-01T12:00:00.000000000Z",
        "stderr": "2024-05-01T12:00:01.000000000Z",
    }
    assert parse_log_options("tail=99999")["tail"] == 10_000
    for bad in ("tail=-1", "tail=x", "since=soon"):
        with pytest.raises(ValueError):
            parse_log_options(bad)


async def test_a_full_queue_drops_its_oldest_batch_and_says_what_was_lost(monkeypatch):
    monkeypatch.setattr("environments.live.logs.QUEUE_BATCHES", 2)

    def batch(*numbers):
        return Batch([{"ts": f"t{n:03d}", "stream": "stdout", "text": str(n)} for n in numbers])

    subscription = Subscription(reader=SimpleNamespace(held=False))  # a reader never held
    for numbers in ((1, 2), (3, 4), (5, 6), (7,)):
        subscription.offer(batch(*numbers))
    subscription.offer({"type": "end", "reason": "container exited (code 0)"})
    skipped, first = await subscription.get()
    assert skipped == {"count": 6, "since": "t001", "until": "t006"}
    assert [line["text"] for line in first.lines] == ["7"]
    assert await subscription.get() == (
        None,
        {"type": "end", "reason": "container exited (code 0)"},
    )


def test_a_swarm_line_is_named_by_its_task_slot():
    from environments.live.sources import SwarmServiceSource

    source = SwarmServiceSource("web-dev")
    source._replicas["m9wsf4nipnu64edbx5ymbi4mf"] = "web-dev.2"
    details = (
        "com.docker.swarm.node.id=2wz3x5f4rq47z55tf88oiqfd8,"
        "com.docker.swarm.service.id=qfete0zloh6vsse61ivnix8pl,"
        "com.docker.swarm.task.id=m9wsf4nipnu64edbx5ymbi4mf"
    )
    ts = "2026-11-23T19:03:55.086966158Z"
    assert source.line(ts, "stderr", f"{details} err 18 with spaces") == {
        "ts": ts,
        "stream": "stderr",
        "text": "err 18 with spaces",
        "replica": "web-dev.2",
    }
    # A task that is gone by the time its line is read keeps a stable name of its own.
    unknown = details.replace("m9wsf4nipnu64edbx5ymbi4mf", "zicqkim827myaqn9hcieszhbf")
    assert source.line(ts, "stdout", f"{unknown} x")["replica"] == "web-dev.zicqkim827my"


def test_cursors_are_kept_per_replica_and_stream_with_the_stream_as_fallback():
    from environments.live.sources import cursor_after, cursor_key

    assert cursor_key({"stream": "stdout"}) == "stdout"
    assert cursor_key({"stream": "stdout", "replica": "web.1"}) == "web.1/stdout"
    cursors = {"stdout": "2026-01-01T00:00:01.000000000Z", "web.1/stdout": "2026-01-01T00:00:05.000000000Z"}  # fmt: skip
    assert cursor_after(cursors, "web.1/stdout").endswith("05.000000000Z")
    assert cursor_after(cursors, "web.2/stdout").endswith("01.000000000Z")
    assert cursor_after(cursors, "web.2/stderr") == ""
    # Tasks of a Swarm service arrive interleaved out of time order: each key on its own.
    batch = Batch(
        [
            {"ts": "2026-01-01T00:00:06.000000000Z", "stream": "stdout", "text": "a", "replica": "web.1"},
            {"ts": "2026-01-01T00:00:04.000000000Z", "stream": "stdout", "text": "b", "replica": "web.2"},
        ]
    )  # fmt: skip
    assert batch.newer_than(cursors) is None  # all new: the shared encoding is sent
    cursors["web.2/stdout"] = "2026-01-01T00:00:04.000000000Z"
    assert [line["text"] for line in batch.newer_than(cursors)] == ["a"]
    assert batch.last == {"web.1/stdout": "2026-01-01T00:00:06.000000000Z", "web.2/stdout": "2026-01-01T00:00:04.000000000Z"}  # fmt: skip


def test_merged_logs_take_exact_cursors_per_replica():
    options = parse_log_options(
        "cursor=web-dev-1-d3/stdout,2026-01-01T00:00:01Z&cursor=web-dev.2/stderr,1767225602"
    )
    assert options["cursors"] == {
        "web-dev-1-d3/stdout": "2026-01-01T00:00:01.000000000Z",
        "web-dev.2/stderr": "2026-01-01T00:00:02.000000000Z",
    }
    assert options["tail"] == 10_000  # resuming: everything since the cursors, up to the cap
    for bad in ("cursor=web/stdin,1", "cursor=../x/stdout,1", "cursor=web/stdout,soon"):
        with pytest.raises(ValueError):
            parse_log_options(bad)

"""Parsing of ``docker logs --timestamps`` output, without an engine."""

import pytest

from environments.log_consumers import parse_log_options
from environments.log_lines import LineSplitter, normalize_ts, ts_seconds
from environments.logs import Batch, Subscription


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
    monkeypatch.setattr("environments.logs.QUEUE_BATCHES", 2)

    def batch(*numbers):
        return Batch([{"ts": f"t{n:03d}", "stream": "stdout", "text": str(n)} for n in numbers])

    subscription = Subscription(reader=None)
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

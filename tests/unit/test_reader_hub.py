"""The shared-reader fan-out (environments/live/hub.py) with readers that need no Docker:
one reader per key, started by the first subscriber and stopped by the last, and the
bounded per-subscriber queues that drop the oldest item and say how much was lost."""

from __future__ import annotations

import asyncio
import threading

import pytest

from environments import engine
from environments.live import events as live_events
from environments.live import stats as live_stats
from environments.live.events import EventHub, EventSubscription
from environments.live.hub import Reader, ReaderHub, Subscription, close_quietly
from environments.live.stats import StatsSubscription

WAIT = 5  # seconds; every wait below ends as soon as its condition holds


class FakeStream:
    """Blocks its reader like a Docker stream until it is closed from another thread."""

    def __init__(self, items=()):
        self.items = list(items)
        self.closed = threading.Event()
        self.close_calls = 0

    def close(self) -> None:
        self.close_calls += 1
        self.closed.set()

    def __iter__(self):
        yield from self.items
        self.closed.wait(WAIT)


class TickReader(Reader):
    """Hands its items to every subscriber, then blocks on its stream until stopped."""

    thread_name = "test-tick-reader"

    def __init__(self, hub, key, loop, items):
        super().__init__(hub, key, None, loop)
        self.stream = FakeStream(items)
        self.go = threading.Event()
        self.go.set()
        self.ended = threading.Event()
        self.stop_calls = 0

    def stop(self) -> None:
        self.stop_calls += 1
        super().stop()

    def _run(self) -> None:
        try:
            self.go.wait(WAIT)
            if not self._adopt(self.stream):
                return
            for item in self.stream:
                self._call(self._dispatch, item)
        finally:
            self.ended.set()

    def _dispatch(self, item) -> None:
        for subscriber in list(self.subscribers):
            subscriber.offer(item)

    def finish(self) -> None:
        """What a real reader does on the loop when its stream ends on its own."""
        self.finished = True
        self.hub._forget(self)


class TickHub(ReaderHub):
    def __init__(self, items=()):
        super().__init__()
        self.items = items
        self.made: list[TickReader] = []

    def subscribe(self, key="k", *, hold=False) -> EventSubscription:
        def new_reader(loop):
            reader = TickReader(self, key, loop, self.items)
            if hold:
                reader.go.clear()
            self.made.append(reader)
            return reader

        return self._join(key, new_reader, EventSubscription)


async def wait_for(condition, what: str) -> None:
    for _ in range(WAIT * 100):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_the_first_subscriber_starts_the_reader_and_the_others_share_it():
    hub = TickHub(items=["a", "b"])
    first = hub.subscribe()
    second = hub.subscribe()
    other_key = hub.subscribe("other")
    assert len(hub.made) == 2 and hub.reader_count() == 2
    reader = hub.made[0]
    assert first.reader is second.reader is reader and other_key.reader is hub.made[1]
    assert reader.subscribers == {first, second}
    assert [await first.get(), await first.get()] == [(0, "a"), (0, "b")]
    assert [await second.get(), await second.get()] == [(0, "a"), (0, "b")]
    for subscription in (first, second, other_key):
        hub.unsubscribe(subscription)


async def test_only_the_last_subscriber_leaving_stops_the_reader():
    hub = TickHub()
    first, second = hub.subscribe(), hub.subscribe()
    reader = hub.made[0]
    await wait_for(lambda: reader._stream is not None, "the reader to open its stream")

    hub.unsubscribe(first)
    assert reader.stop_calls == 0 and hub.reader_count() == 1
    assert not reader.stream.closed.is_set()

    hub.unsubscribe(second)
    assert reader.stop_calls == 1 and hub.reader_count() == 0
    assert reader.stream.closed.is_set()  # the blocked read is woken up...
    await wait_for(reader.ended.is_set, "the reader thread to end")  # ...and its thread ends

    third = hub.subscribe()  # following again starts a fresh reader
    assert len(hub.made) == 2 and third.reader is hub.made[1] and hub.reader_count() == 1
    hub.unsubscribe(third)


async def test_a_reader_stopped_before_it_opened_its_stream_closes_it_and_ends():
    hub = TickHub(items=["never seen"])
    subscription = hub.subscribe(hold=True)  # the thread has not opened its stream yet
    reader = hub.made[0]
    hub.unsubscribe(subscription)
    reader.go.set()
    await wait_for(reader.ended.is_set, "the reader thread to end")
    assert reader.stream.closed.is_set() and reader._stream is None
    assert subscription.queue.empty()


async def test_a_finished_reader_is_replaced_and_its_late_leavers_do_not_stop_the_new_one():
    hub = TickHub()
    old_subscription = hub.subscribe()
    old = hub.made[0]
    old.finish()  # its stream ended on its own: forgotten by the hub
    assert hub.reader_count() == 0

    new_subscription = hub.subscribe()
    new = hub.made[1]
    assert new is not old and hub.reader_count() == 1

    hub.unsubscribe(old_subscription)  # a viewer of the finished reader leaves late
    assert old.stop_calls == 0  # a finished reader is not stopped again
    assert new.stop_calls == 0 and hub.reader_count() == 1  # and the new one is kept
    hub.unsubscribe(new_subscription)
    assert new.stop_calls == 1 and hub.reader_count() == 0
    old.stop()


def test_a_reader_left_on_a_closed_loop_is_stopped_and_replaced():
    hub = TickHub()

    async def follow():
        return hub.subscribe()

    stale = asyncio.run(follow())  # its loop is closed when asyncio.run returns
    assert hub.reader_count() == 1
    fresh = asyncio.run(follow())
    assert fresh.reader is not stale.reader and hub.reader_count() == 1
    assert stale.reader.stop_calls == 1 and stale.reader.stream.closed.is_set()
    hub.unsubscribe(stale)  # the old reader's last viewer leaves after the replacement:
    assert hub.reader_count() == 1  # the key stays with the fresh reader
    assert fresh.reader.stop_calls == 0
    fresh.reader.stop()


async def test_a_slow_subscriber_loses_the_oldest_items_and_is_told_how_many(monkeypatch):
    monkeypatch.setattr(live_events, "QUEUE_EVENTS", 3)
    hub = TickHub(items=list(range(10)))
    slow, also_slow = hub.subscribe(hold=True), hub.subscribe()
    hub.made[0].go.set()
    await wait_for(lambda: slow.skipped == also_slow.skipped == 7, "all ten items")
    assert slow.queue.qsize() == also_slow.queue.qsize() == 3
    assert await slow.get() == (7, 7)  # 0..6 were dropped, just before 7
    assert await slow.get() == (0, 8)
    assert await slow.get() == (0, 9)
    assert await also_slow.get() == (7, 7)  # each subscriber counts its own losses
    hub.unsubscribe(slow)
    hub.unsubscribe(also_slow)


async def test_a_full_queue_drops_its_oldest_items_and_hands_each_to_dropped():
    class Counting(Subscription):
        def __init__(self, reader):
            super().__init__(reader, 2)
            self.lost: list = []

        def dropped(self, item) -> None:
            self.lost.append(item)

    subscription = Counting(reader=None)
    for item in "abcde":
        subscription.offer(item)
    assert subscription.lost == ["a", "b", "c"]
    assert [subscription.queue.get_nowait() for _ in range(2)] == ["d", "e"]
    plain = Subscription(reader=None, size=1)  # by default a dropped item is just gone
    plain.offer(1)
    plain.offer(2)
    assert plain.queue.get_nowait() == 2 and plain.queue.empty()


async def test_stats_subscribers_keep_only_the_newest_samples(monkeypatch):
    monkeypatch.setattr(live_stats, "QUEUE_MESSAGES", 2)
    subscription = StatsSubscription(reader=None)
    for n in range(5):
        subscription.offer({"n": n})
    assert [await subscription.get(), await subscription.get()] == [{"n": 3}, {"n": 4}]
    assert subscription.queue.empty()


async def test_calling_back_into_a_closed_loop_stops_the_reader():
    loop = asyncio.new_event_loop()
    loop.close()
    reader = TickReader(TickHub(), "k", loop, [])
    assert reader._adopt(reader.stream)
    reader._call(print, "never")
    assert reader.stop_calls == 1 and reader.stream.closed.is_set()
    assert not reader._adopt(FakeStream())  # nothing is adopted after a stop


def test_close_quietly_swallows_a_failing_close():
    class Broken:
        def close(self):
            raise OSError("already closed")

    close_quietly(Broken())
    stream = FakeStream()
    close_quietly(stream)
    assert stream.close_calls == 1


# --- the environment event reader, on a fake engine ----------------------------------------


class FakeEnvironment:
    pk = 41
    slug = "dev"
    endpoint_url = "unix:///nonexistent/docker.sock"
    only_labelled_containers = True


@pytest.fixture
def fake_engine(monkeypatch):
    """engine.open_client and engine.event_stream without Docker; what they were asked."""
    seen = {"filters": [], "streams": []}

    class Client:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def open_client(environment, **kwargs):
        return Client()

    def event_stream(client, filters):
        seen["filters"].append(filters)
        stream = FakeStream(seen.pop("items", []))
        seen["streams"].append(stream)
        return stream

    monkeypatch.setattr(engine, "open_client", open_client)
    monkeypatch.setattr(engine, "event_stream", event_stream)
    return seen


def docker_event(action: str, **attributes) -> dict:
    return {
        "Action": action,
        "Actor": {
            "ID": "c0ffee",
            "Attributes": {"name": "web-dev-1", "image": "app", **attributes},
        },  # fmt: skip
        "timeNano": 1714564800_000000001,
    }


async def test_environment_events_fan_out_from_one_reader_that_the_last_viewer_closes(fake_engine):
    fake_engine["items"] = [docker_event("start"), docker_event("die", exitCode="3")]
    hub = EventHub()
    first = hub.subscribe(FakeEnvironment())
    second = hub.subscribe(FakeEnvironment())
    assert first.reader is second.reader and hub.reader_count() == 1
    await asyncio.wait_for(first.reader.ready, WAIT)
    assert fake_engine["filters"] == [
        {
            "type": ["container"],
            "event": ["create", "start", "die", "stop", "health_status", "destroy"],
            "label": ["berth.environment=dev"],
        }
    ]
    for subscription in (first, second):
        skipped, started = await asyncio.wait_for(subscription.get(), WAIT)
        assert skipped == 0 and started["event"]["action"] == "start"
        _, died = await asyncio.wait_for(subscription.get(), WAIT)
        assert died["event"] == {
            "action": "die",
            "id": "c0ffee",
            "name": "web-dev-1",
            "image": "app",
            "time": "2024-05-01T12:00:00.000000001Z",
            "exit_code": 3,
        }
    hub.unsubscribe(first)
    assert not fake_engine["streams"][0].closed.is_set()
    hub.unsubscribe(second)
    assert fake_engine["streams"][0].closed.is_set() and hub.reader_count() == 0


async def test_an_event_stream_that_ends_tells_the_viewers_and_frees_the_key(fake_engine):
    hub = EventHub()
    subscription = hub.subscribe(FakeEnvironment())
    await asyncio.wait_for(subscription.reader.ready, WAIT)
    fake_engine["streams"][0].closed.set()  # Docker ends the stream from its side
    assert await asyncio.wait_for(subscription.get(), WAIT) == (
        0,
        {"type": "error", "message": "The Docker event stream ended."},
    )
    assert subscription.reader.finished and hub.reader_count() == 0
    hub.unsubscribe(subscription)  # leaving a finished reader is harmless
    again = hub.subscribe(FakeEnvironment())
    assert again.reader is not subscription.reader and len(fake_engine["streams"]) == 2
    hub.unsubscribe(again)

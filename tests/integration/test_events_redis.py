"""Events sent from request threads and tasks over the real Redis channel layer: in the
order sent, on kept connections, and never holding up the sender when Redis is away."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest
import redis
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.test import override_settings

from portal.core import events

pytestmark = pytest.mark.integration


def _layer_settings(url: str) -> dict:
    return {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [url], "capacity": 1000, "expiry": 30},
        }
    }


def _connections_received(url: str) -> int:
    with redis.Redis.from_url(url) as client:
        return int(client.info("stats")["total_connections_received"])


def _send_from_threads(group: str, threads: int, each: int) -> None:
    def sends(thread: int) -> None:
        for number in range(each):
            events.send_now(group, {"type": "test.event", "thread": thread, "number": number})

    workers = [threading.Thread(target=sends, args=(thread,)) for thread in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


async def test_sends_from_threads_arrive_in_each_threads_order_on_kept_connections(redis_url):
    url = redis_url.rsplit("/", 1)[0] + "/6"
    with override_settings(CHANNEL_LAYERS=_layer_settings(url)):
        receiver = get_channel_layer()
        channel = await receiver.new_channel()
        group = f"events-test-{time.monotonic_ns()}"
        await receiver.group_add(group, channel)
        await sync_to_async(events.send_now)(group, {"type": "test.warm-up"})
        assert (await receiver.receive(channel))["type"] == "test.warm-up"
        connections_before = _connections_received(url)

        await sync_to_async(_send_from_threads)(group, threads=4, each=50)

        received = [await receiver.receive(channel) for _ in range(200)]
        by_thread: dict[int, list[int]] = {}
        for message in received:
            by_thread.setdefault(message["thread"], []).append(message["number"])
        assert by_thread == {thread: list(range(50)) for thread in range(4)}
        # One sender per process keeps its connections: 200 sends opened (almost) none,
        # where a loop per send opened one each.
        assert _connections_received(url) - connections_before <= 3
        await receiver.group_discard(group, channel)


@pytest.fixture(params=["refused", "silent"])
def layer_away(request):
    """A Redis URL nobody answers: a closed port (connection refused), or a port that
    accepts connections and never replies (each send waits for its timeout)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        if request.param == "silent":
            listener.listen(64)
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"


def test_a_channel_layer_that_is_away_never_holds_up_the_sender(
    layer_away, redis_url, caplog, monkeypatch
):
    monkeypatch.setattr(events, "SEND_TIMEOUT", 0.5)
    with override_settings(CHANNEL_LAYERS=_layer_settings(layer_away)):
        started = time.monotonic()
        for number in range(5):
            events.send_now("events-away", {"type": "test.event", "number": number})
        handed_over = time.monotonic() - started
        with caplog.at_level(logging.ERROR, logger="portal.core.events"):
            assert events._sender_for(get_channel_layer()).flush(timeout=30)
    # The thread that sent went on at once; each send failed on its own (refused, or
    # timed out), was logged and dropped.
    assert handed_over < 0.2
    failures = [r for r in caplog.records if "Could not send test.event" in r.getMessage()]
    assert len(failures) == 5

    # The layer back: the next sends arrive.
    url = redis_url.rsplit("/", 1)[0] + "/6"
    with override_settings(CHANNEL_LAYERS=_layer_settings(url)):
        receiver = get_channel_layer()

        async def round_trip() -> dict:
            channel = await receiver.new_channel()
            await receiver.group_add("events-back", channel)
            await sync_to_async(events.send_now)("events-back", {"type": "test.back"})
            return await receiver.receive(channel)

        assert async_to_sync(round_trip)()["type"] == "test.back"

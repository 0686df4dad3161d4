"""The embedded mode's broker wakes a waiting worker when a message is queued, instead
of leaving it asleep until its next look (``portal.broker``)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from kombu import Connection, Exchange, Queue

POLL = 5.0  # far longer than any wait below: only the wake-up can explain a quick delivery


@pytest.fixture
def queue():
    name = f"test-{uuid.uuid4().hex[:8]}"
    exchange = Exchange(name, type="direct")
    return Queue(name, exchange, routing_key=name)


def _connection() -> Connection:
    return Connection(
        "memory://", transport="portal.broker:Transport",
        transport_options={"polling_interval": POLL},
    )  # fmt: skip


def test_a_queued_message_wakes_the_waiting_consumer_at_once(queue):
    received: list[tuple[float, object]] = []
    with _connection() as consuming, _connection() as producing:

        def consume():
            with consuming.Consumer(queue, callbacks=[lambda body, message: (
                received.append((time.monotonic(), body)), message.ack())]):  # fmt: skip
                consuming.drain_events(timeout=10)

        consumer = threading.Thread(target=consume)
        with consuming.Consumer(queue):  # declare the queue before publishing
            pass
        consumer.start()
        time.sleep(0.3)  # the consumer is asleep now, waiting
        sent = time.monotonic()
        producing.Producer().publish({"n": 1}, exchange=queue.exchange, routing_key=queue.routing_key, declare=[queue])  # fmt: skip
        consumer.join(5)
    assert received and received[0][1] == {"n": 1}
    assert received[0][0] - sent < 0.5  # not the POLL seconds of a sleeping look


def test_with_nothing_queued_the_wait_ends_at_its_timeout(queue):
    with _connection() as connection, connection.Consumer(queue):
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            connection.drain_events(timeout=0.3)
        assert 0.3 <= time.monotonic() - started < 1.0


def test_an_ack_that_frees_the_prefetch_window_wakes_the_waiting_consumer(queue):
    """With acks late and a prefetch window (the worker's settings), a consumer whose
    window is full may not take the next message: the ack that frees the window must
    wake it, not leave it asleep until its next look."""
    delivered: list[tuple[float, object, object]] = []
    with _connection() as consuming, _connection() as producing:
        for number in (1, 2):
            producing.Producer().publish({"n": number}, exchange=queue.exchange, routing_key=queue.routing_key, declare=[queue])  # fmt: skip
        with consuming.Consumer(queue, callbacks=[lambda body, message: delivered.append(
                (time.monotonic(), body, message))]) as consumer:  # fmt: skip
            consumer.qos(prefetch_count=1)
            consuming.drain_events(timeout=5)
            assert [body for _, body, _ in delivered] == [{"n": 1}]
            waiting = threading.Thread(target=consuming.drain_events, kwargs={"timeout": 10})
            waiting.start()
            time.sleep(0.3)  # the consumer waits: its window is full
            assert len(delivered) == 1
            acked = time.monotonic()
            delivered[0][2].ack()
            waiting.join(10)
    assert [body for _, body, _ in delivered] == [{"n": 1}, {"n": 2}]
    assert delivered[1][0] - acked < 0.5  # not the POLL seconds of a sleeping look

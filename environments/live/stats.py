"""Live container resource usage: one Docker stats reader per container per server process.

* :data:`hub` keeps one reader per (endpoint, container). The first viewer starts it; when
  the last one leaves its ``CancellableStream`` is closed, which ends its thread. Samples
  never travel through the channel layer.
* The reader reads Docker's stats stream (one sample a second) in a thread of its own with
  a DockerClient of its own, turns each pair of consecutive samples into one message with
  :func:`stats_message` and hands it to the loop with ``call_soon_threadsafe``.
* A sample is a snapshot: a viewer's queue holds a few messages and drops the oldest
  when it is full; a new viewer gets the latest message at once.
* When the container stops Docker sends zeroed samples: the reader asks for the exit code
  and ends with ``{"type": "end", "reason": "container exited (code N)"}``; a broken
  engine ends it with ``{"type": "error", "message": ...}``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from environments import engine
from environments.live.hub import Reader, ReaderHub, Subscription

__all__ = ["StatsHub", "StatsSubscription", "hub", "reader_count", "stats_message"]

log = logging.getLogger(__name__)

QUEUE_MESSAGES = 4
_ZERO_TIME = "0001-01-01T00:00:00Z"


# --- the arithmetic ----------------------------------------------------------------------


def _read_time(sample: dict) -> datetime | None:
    """The sample's ``read`` time; None for Docker's zero time (container not running).

    Docker writes RFC 3339 with up to nine fraction digits; Python reads six.
    """
    text = sample.get("read") or ""
    if not text or text.startswith("0001-"):
        return None
    head, _, rest = text.partition(".")
    if rest:
        fraction = rest.rstrip("Z")
        zone = ""
        for sign in ("+", "-"):
            if sign in fraction:
                fraction, zone = fraction.split(sign, 1)
                zone = sign + zone
        text = f"{head}.{fraction[:6].ljust(6, '0')}{zone or '+00:00'}"
    else:
        text = head.replace("Z", "+00:00")
    return datetime.fromisoformat(text).astimezone(UTC)


def _cpu_percent(cpu: dict, previous_cpu: dict) -> float:
    """As ``docker stats`` computes it: the container's share of the host's CPU time
    between the two samples, times the CPUs it could use (100 % per busy CPU)."""
    total = (cpu.get("cpu_usage") or {}).get("total_usage") or 0
    previous_total = (previous_cpu.get("cpu_usage") or {}).get("total_usage") or 0
    system = cpu.get("system_cpu_usage") or 0
    previous_system = previous_cpu.get("system_cpu_usage") or 0
    cpu_delta, system_delta = total - previous_total, system - previous_system
    if not previous_system or cpu_delta <= 0 or system_delta <= 0:
        return 0.0
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1  # fmt: skip
    return cpu_delta / system_delta * online * 100.0


def _memory(memory: dict) -> tuple[int, int, float]:
    """(usage without page cache, limit, percent). cgroup v2 reports ``inactive_file``,
    cgroup v1 ``cache``: reclaimable, so not counted, as ``docker stats`` does."""
    usage = int(memory.get("usage") or 0)
    details = memory.get("stats") or {}
    if "inactive_file" in details and "cache" not in details:  # cgroup v2
        cached = details["inactive_file"]
    else:
        cached = details.get("cache", 0)
    usage = max(usage - int(cached or 0), 0)
    limit = int(memory.get("limit") or 0)
    return usage, limit, (usage / limit * 100.0 if limit else 0.0)


def _network(sample: dict) -> tuple[int, int]:
    """Received and sent bytes over all interfaces (none with network ``none``)."""
    networks = (sample.get("networks") or {}).values()
    return (
        sum(int(n.get("rx_bytes") or 0) for n in networks),
        sum(int(n.get("tx_bytes") or 0) for n in networks),
    )


def _block_io(sample: dict) -> tuple[int, int]:
    """Bytes read and written on block devices (op names are capitalised in cgroup v1)."""
    rows = (sample.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []
    read = sum(int(row.get("value") or 0) for row in rows if str(row.get("op")).lower() == "read")
    write = sum(int(row.get("value") or 0) for row in rows if str(row.get("op")).lower() == "write")
    return read, write


def stats_message(previous: dict | None, current: dict) -> dict:
    """One ``stats`` message from two consecutive Docker stats samples.

    CPU is measured between the two (with no ``previous``, against Docker's own
    ``precpu_stats``); network rates are bytes per second between the two read times,
    0.0 without a ``previous``. Totals are since the container started.
    """
    read_at = _read_time(current) or datetime.now(UTC)
    previous_at = _read_time(previous) if previous else None
    cpu = current.get("cpu_stats") or {}
    previous_cpu = (previous or {}).get("cpu_stats") or current.get("precpu_stats") or {}
    memory_bytes, memory_limit, memory_percent = _memory(current.get("memory_stats") or {})
    rx, tx = _network(current)
    rx_rate = tx_rate = 0.0
    if previous_at is not None and read_at > previous_at:
        seconds = (read_at - previous_at).total_seconds()
        previous_rx, previous_tx = _network(previous)
        rx_rate = max(rx - previous_rx, 0) / seconds
        tx_rate = max(tx - previous_tx, 0) / seconds
    blk_read, blk_write = _block_io(current)
    return {
        "type": "stats",
        "ts": read_at.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "cpu_percent": round(_cpu_percent(cpu, previous_cpu), 3),
        "memory_bytes": memory_bytes,
        "memory_limit": memory_limit,
        "memory_percent": round(memory_percent, 3),
        "net_rx_bytes": rx,
        "net_tx_bytes": tx,
        "net_rx_rate": round(rx_rate, 3),
        "net_tx_rate": round(tx_rate, 3),
        "blk_read_bytes": blk_read,
        "blk_write_bytes": blk_write,
        "pids": int((current.get("pids_stats") or {}).get("current") or 0),
    }


def _outcome(state: tuple[str, int] | None) -> dict | None:
    """What the viewers are told when samples stop; None while the container runs."""
    if state is None:
        return {"type": "end", "reason": "container removed"}
    status, code = state
    if status in ("running", "paused"):
        return None
    if status == "restarting":
        return {"type": "end", "reason": f"container exited (code {code}) and is restarting"}
    return {"type": "end", "reason": f"container exited (code {code})"}


# --- the hub -----------------------------------------------------------------------------


class StatsSubscription(Subscription):
    """One viewer: a short queue of messages (a full one drops the oldest: only the
    newest matters), then an ``end`` or ``error`` message."""

    def __init__(self, reader: _StatsReader):
        super().__init__(reader, QUEUE_MESSAGES)

    async def get(self) -> dict:
        return await self.queue.get()


class _StatsReader(Reader):
    """Follows the stats of one container; runs in a thread of its own."""

    def __init__(self, hub: StatsHub, key, environment, container_id: str, loop):
        super().__init__(hub, key, environment, loop)
        self.container_id = container_id
        self.thread_name = f"berth-stats-{container_id[:12]}"
        self.latest: dict | None = None

    # --- the reader thread ---
    def _run(self) -> None:
        outcome = None
        try:
            with engine.open_client(self.environment, max_pool_size=2) as client:
                stream = engine.stats_stream(client, self.container_id)
                if not self._adopt(stream):
                    return
                previous = None
                for sample in stream:
                    if self._stopping:
                        return
                    if _read_time(sample) is None:  # zeroed: the container is not running
                        outcome = _outcome(engine.container_exit(client, self.container_id))
                        if outcome is not None:
                            return
                        previous = None
                        continue
                    if previous is not None:
                        self._call(self._publish, stats_message(previous, sample))
                    previous = sample
                if self._stopping:
                    return
                outcome = _outcome(engine.container_exit(client, self.container_id)) or {
                    "type": "error",
                    "message": "The stats stream ended while the container runs: reconnect.",
                }
        except engine.ContainerMissing:
            outcome = {"type": "end", "reason": "container removed"}
        except engine.EngineUnavailable as exc:
            outcome = {"type": "error", "message": str(exc)}
        except Exception:
            if not self._stopping:
                log.exception("Stats reader of %s failed", self.container_id)
                outcome = {"type": "error", "message": "The stats reader failed (see the server log)."}  # fmt: skip
        finally:
            self.stop()
            self._call(self._finish, outcome)

    # --- on the loop ---
    def _publish(self, message: dict) -> None:
        if self.finished:
            return
        self.latest = message
        self._dispatch(message)


class StatsHub(ReaderHub):
    """The stats readers of this process, by (endpoint, container id)."""

    def subscribe(self, environment, container_id: str) -> StatsSubscription:
        """Follow ``container_id``: starts its reader if nobody follows it yet."""
        key = (environment.endpoint_url, container_id)
        subscription = self._join(
            key,
            lambda loop: _StatsReader(self, key, environment, container_id, loop),
            StatsSubscription,
        )
        if subscription.reader.latest is not None:
            subscription.offer(subscription.reader.latest)
        return subscription


hub = StatsHub()


def reader_count() -> int:
    """Stats readers open in this process (one per followed container)."""
    return hub.reader_count()

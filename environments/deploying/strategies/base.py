"""What every deployment strategy shares: progress reporting, the failure they raise,
replica ports and labels, starting a replica, waiting for health, cleaning up.

Each strategy drives an :class:`environments.engine.EngineSession` and reports every
step through a :class:`Progress`. On failure a strategy puts back what it changed (the
old replicas keep serving for rolling, blue-green and Swarm) and raises
:class:`DeploymentFailed` with the reason. Containers carry labels naming service,
environment, deployment, revision, slot, port and colour: Berth touches only its own.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from environments import engine
from environments.engine import EngineSession, Replica

__all__ = [
    "DeploymentCancelled",
    "DeploymentFailed",
    "Progress",
    "health_deadline",
    "other_colour",
    "pull_image",
    "remove_started",
    "replica_labels",
    "replica_port",
    "retire",
    "start_replica",
    "wait_healthy",
]

GREEN_PORT_OFFSET = 100  # green replicas bind base + 100 + slot, so blue and green coexist
POLL = 0.2  # the longest a health wait sleeps between looks (engine events wake it sooner)
SETTLE = 1.0  # a replica without a health check counts as up once it ran this long


class DeploymentFailed(Exception):
    """The deployment did not reach its goal; ``str()`` is the reason shown to people."""


class DeploymentCancelled(DeploymentFailed):
    """Someone cancelled the deployment; raised at a checkpoint, so the strategy puts back
    what it changed as after any failure (new replicas removed, old ones serving)."""


class Progress:
    """Where a strategy reports; the runner persists and broadcasts each call.

    ``cancelled`` returns the reason when someone asked to cancel the deployment; the
    strategy's checkpoints (:meth:`checkpoint`: before each replica starts and while it
    waits for health, places its failure path undoes) then raise
    :class:`DeploymentCancelled`, once."""

    def __init__(
        self,
        emit: Callable[[str, str, dict, int | None], None],
        beat: Callable[[], None],
        cancelled: Callable[[], str | None] | None = None,
    ):
        self._emit = emit
        self._beat = beat
        self._cancelled = cancelled
        self._cancel_raised = False
        self._last_pull = 0.0
        self._last_beat = time.monotonic()

    def beat(self) -> None:
        """Tell the reaper this deployment is alive during long silent waits."""
        if time.monotonic() - self._last_beat >= 5:
            self._last_beat = time.monotonic()
            self._beat()

    def checkpoint(self) -> None:
        """Stop here if the deployment was cancelled (only where the strategy's failure
        path undoes what was done so far)."""
        if self._cancelled is None or self._cancel_raised:
            return
        reason = self._cancelled()
        if reason:
            self._cancel_raised = True
            raise DeploymentCancelled(reason)

    def step(
        self, message: str, *, kind: str = "step", progress: int | None = None, **data
    ) -> None:
        self._emit(kind, message, data, progress)

    def pull(self, done: int, total: int, base: int, span: int) -> None:
        now = time.monotonic()
        if now - self._last_pull < 0.5 and done < total:
            return  # a pull reports per chunk; a few events a second are enough
        self._last_pull = now
        share = base + int(span * done / total) if total else base
        self.step(
            f"Pulling: {done / 1e6:.1f} of {total / 1e6:.1f} MB",
            kind="pull", progress=share, done=done, total=total,
        )  # fmt: skip


def other_colour(live: list[Replica]) -> str:
    """The colour new replicas take beside ``live`` ones: the other one, so their ports
    (base + slot, or base + 100 + slot for green) never collide."""
    return "green" if live and live[0].colour == "blue" else "blue"


def replica_port(config: dict, slot: int, colour: str) -> int | None:
    if not config["port"]:
        return None
    return config["port"] + slot + (GREEN_PORT_OFFSET if colour == "green" else 0)


def replica_labels(deployment, slot: int, port: int | None, colour: str) -> dict:
    labels = {
        engine.LABEL_SERVICE: deployment.service.name,
        engine.LABEL_ENVIRONMENT: deployment.environment.slug,
        engine.LABEL_DEPLOYMENT: str(deployment.pk),
        engine.LABEL_REVISION: str(deployment.config.revision),
        engine.LABEL_SLOT: str(slot),
        engine.LABEL_COLOUR: colour,
    }
    if port:
        labels[engine.LABEL_PORT] = str(port)
    return labels


def health_deadline(config: dict) -> float:
    health = config.get("health_check")
    if not health:
        return 3.0
    rounds = health["retries"] + 2
    return health["start_period"] + rounds * (health["interval"] + health["timeout"]) + 5


def wait_healthy(
    session: EngineSession,
    started: list[tuple[int, str]],
    config: dict,
    progress: Progress,
    of: int,
) -> None:
    """Wait until every (slot, container id) is healthy (or, without a health check, still
    running after a short settle time)."""
    has_check = bool(config.get("health_check"))
    deadline = time.monotonic() + health_deadline(config)
    settle = time.monotonic() + SETTLE
    pending = dict(started)
    with session.watch(list(pending.values())) as changes:
        while pending:
            for slot, container_id in list(pending.items()):
                if _is_ready(session, slot, container_id, has_check, settle, progress, of):
                    del pending[slot]
            if pending and time.monotonic() > deadline:
                slots = ", ".join(str(s + 1) for s in sorted(pending))
                raise DeploymentFailed(f"Replica {slots} of {of} did not become healthy in time.")
            if pending:
                progress.beat()
                progress.checkpoint()
                # The engine's events wake this at once when a check passes or a
                # replica dies; the timeout bounds how late a cancel is noticed.
                changes.wait(POLL if has_check else min(POLL, max(0.0, settle - time.monotonic())))


def _is_ready(
    session: EngineSession,
    slot: int,
    container_id: str,
    has_check: bool,
    settle: float,
    progress: Progress,
    of: int,
) -> bool:
    """Whether one new replica is ready: healthy, or without a health check still running
    after the settle time. Raises when it stopped or failed its check."""
    state, health, exit_code = session.inspect(container_id)
    if state in ("exited", "dead", "removed"):
        progress.step(
            f"Replica {slot + 1} of {of} stopped", kind="replica", slot=slot, state="failed"
        )
        tail = session.logs_tail(container_id)
        raise DeploymentFailed(
            f"Replica {slot + 1} of {of} exited with code {exit_code}"
            + (f": {tail}" if tail else "")
        )
    if health == "unhealthy":
        progress.step(
            f"Replica {slot + 1} of {of} is unhealthy", kind="replica", slot=slot, state="failed"
        )
        raise DeploymentFailed(f"Replica {slot + 1} of {of} failed its health check.")
    if (has_check and health == "healthy") or (not has_check and time.monotonic() >= settle):
        progress.step(
            f"Replica {slot + 1} of {of} is healthy", kind="replica", slot=slot, state="healthy"
        )
        return True
    return False


def start_replica(
    session: EngineSession,
    deployment,
    image: str,
    config: dict,
    slot: int,
    colour: str,
    progress: Progress,
    of: int,
) -> str:
    progress.checkpoint()
    port = replica_port(config, slot, colour)
    # The suffix keeps names unique on an engine that outlives a database (a fresh demo
    # database numbers deployments from 1 again while old containers may still exist).
    name = (
        f"{deployment.service.name}-{deployment.environment.slug}-{slot + 1}"
        f"-d{deployment.pk}-{secrets.token_hex(2)}"
    )
    progress.step(
        f"Starting replica {slot + 1} of {of}" + (f" on port {port}" if port else ""),
        kind="replica",
        slot=slot,
        state="starting",
        container=name,  # the deployment page links the replica to its container page
    )
    try:
        return session.run(
            name=name,
            image=image,
            config=config,
            labels=replica_labels(deployment, slot, port, colour),
            port=port,
        )
    except engine.EngineUnavailable as exc:
        # The replica never ran: say so, rather than leaving it "starting" forever.
        progress.step(
            f"Replica {slot + 1} of {of} could not start", kind="replica", slot=slot, state="failed"
        )
        raise DeploymentFailed(f"Replica {slot + 1} of {of} could not start ({exc}).") from exc


def retire(session: EngineSession, replica: Replica, config: dict) -> None:
    """Stop an old replica gracefully (its grace period), then remove it."""
    if replica.state == "running":
        session.stop(replica.id, timeout=config["stop_grace_period"])
    session.remove(replica.id)


def remove_started(
    session: EngineSession, started: list[tuple[int, str]], progress: Progress
) -> None:
    for slot, container_id in started:
        session.remove(container_id)
        progress.step(f"Removed new replica {slot + 1}", kind="replica", slot=slot, state="removed")


def pull_image(session: EngineSession, image: str, progress: Progress) -> None:
    """Pull ``repo@digest`` unless the engine holds it already: a digest names one
    content, so a copy on the engine is that image (as ``docker run --pull missing``)."""
    if session.has_image(image):
        progress.step(f"Image ready: {image} is already on the engine", progress=30)
    else:
        progress.step(f"Pulling {image}", progress=5)
        session.pull(image, lambda done, total: progress.pull(done, total, 5, 25))
        progress.step("Image ready", progress=30)
    progress.checkpoint()  # nothing changed yet

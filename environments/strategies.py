"""Deployment strategies: recreate, rolling, blue-green on a Docker Engine, and Swarm.

Each strategy drives an :class:`environments.engine.EngineSession` and reports every
step through a :class:`Progress`. On failure a strategy puts back what it changed (the
old replicas keep serving for rolling, blue-green and Swarm) and raises
:class:`DeploymentFailed` with the reason. Containers carry labels naming service,
environment, deployment, revision, slot, port and colour: Berth touches only its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from environments import engine
from environments.engine import EngineSession, Replica

__all__ = ["DeploymentFailed", "Progress", "run_strategy"]

GREEN_PORT_OFFSET = 100  # green replicas bind base + 100 + slot, so blue and green coexist
POLL = 0.2


class DeploymentFailed(Exception):
    """The deployment did not reach its goal; ``str()`` is the reason shown to people."""


class Progress:
    """Where a strategy reports; the runner persists and broadcasts each call."""

    def __init__(
        self, emit: Callable[[str, str, dict, int | None], None], beat: Callable[[], None]
    ):
        self._emit = emit
        self._beat = beat
        self._last_pull = 0.0
        self._last_beat = time.monotonic()

    def beat(self) -> None:
        """Tell the reaper this deployment is alive during long silent waits."""
        if time.monotonic() - self._last_beat >= 5:
            self._last_beat = time.monotonic()
            self._beat()

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


def _port(config: dict, slot: int, colour: str) -> int | None:
    if not config["port"]:
        return None
    return config["port"] + slot + (GREEN_PORT_OFFSET if colour == "green" else 0)


def _labels(deployment, slot: int, port: int | None, colour: str) -> dict:
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


def _health_deadline(config: dict) -> float:
    health = config.get("health_check")
    if not health:
        return 3.0
    rounds = health["retries"] + 2
    return health["start_period"] + rounds * (health["interval"] + health["timeout"]) + 5


def _wait_healthy(
    session: EngineSession,
    started: list[tuple[int, str]],
    config: dict,
    progress: Progress,
    of: int,
) -> None:
    """Wait until every (slot, container id) is healthy (or, without a health check, still
    running after a short settle time)."""
    has_check = bool(config.get("health_check"))
    deadline = time.monotonic() + _health_deadline(config)
    settle = time.monotonic() + 1.0
    pending = dict(started)
    while pending:
        for slot, container_id in list(pending.items()):
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
                    f"Replica {slot + 1} of {of} is unhealthy",
                    kind="replica",
                    slot=slot,
                    state="failed",
                )
                raise DeploymentFailed(f"Replica {slot + 1} of {of} failed its health check.")
            if (has_check and health == "healthy") or (
                not has_check and time.monotonic() >= settle
            ):
                del pending[slot]
                progress.step(
                    f"Replica {slot + 1} of {of} is healthy",
                    kind="replica",
                    slot=slot,
                    state="healthy",
                )
        if pending and time.monotonic() > deadline:
            slots = ", ".join(str(s + 1) for s in sorted(pending))
            raise DeploymentFailed(f"Replica {slots} of {of} did not become healthy in time.")
        if pending:
            progress.beat()
            time.sleep(POLL)


def _start(
    session: EngineSession,
    deployment,
    image: str,
    config: dict,
    slot: int,
    colour: str,
    progress: Progress,
    of: int,
) -> str:
    port = _port(config, slot, colour)
    name = f"{deployment.service.name}-{deployment.environment.slug}-{slot + 1}-d{deployment.pk}"
    progress.step(
        f"Starting replica {slot + 1} of {of}" + (f" on port {port}" if port else ""),
        kind="replica",
        slot=slot,
        state="starting",
    )
    return session.run(
        name=name,
        image=image,
        config=config,
        labels=_labels(deployment, slot, port, colour),
        port=port,
    )


def _retire(session: EngineSession, replica: Replica, config: dict) -> None:
    """Stop an old replica gracefully (its grace period), then remove it."""
    if replica.state == "running":
        session.stop(replica.id, timeout=config["stop_grace_period"])
    session.remove(replica.id)


def _remove_started(
    session: EngineSession, started: list[tuple[int, str]], progress: Progress
) -> None:
    for slot, container_id in started:
        session.remove(container_id)
        progress.step(f"Removed new replica {slot + 1}", kind="replica", slot=slot, state="removed")


def _pull(session: EngineSession, image: str, progress: Progress) -> None:
    progress.step(f"Pulling {image}", progress=5)
    session.pull(image, lambda done, total: progress.pull(done, total, 5, 25))
    progress.step("Image ready", progress=30)


def _recreate(
    session: EngineSession, deployment, image: str, config: dict, progress: Progress
) -> None:
    """Stop the old set, start the new one. The old containers are only stopped until the
    new set is healthy, so a failure starts them again: downtime, but no lost version."""
    n = config["replicas"]
    old = [r for r in session.replicas(deployment.service.name) if r.deployment != deployment.pk]
    running = [r for r in old if r.state == "running"]
    if running:
        progress.step(f"Stopping {len(running)} old replica(s)", progress=35)
        for replica in running:
            session.stop(replica.id, timeout=config["stop_grace_period"])
    started: list[tuple[int, str]] = []
    try:
        for slot in range(n):
            started.append(
                (slot, _start(session, deployment, image, config, slot, "blue", progress, n))
            )
        progress.step("Waiting for health", progress=60)
        _wait_healthy(session, started, config, progress, n)
    except (DeploymentFailed, engine.EngineUnavailable):
        _remove_started(session, started, progress)
        if running:
            progress.step("Starting the old replicas again")
            for replica in running:
                session.start(replica.id)
        raise
    for replica in old:
        session.remove(replica.id)


def _rolling(
    session: EngineSession, deployment, image: str, config: dict, progress: Progress
) -> None:
    n, batch = config["replicas"], config["strategy"].get("batch_size", 1)
    old = [r for r in session.replicas(deployment.service.name) if r.deployment != deployment.pk]
    by_slot: dict[int, list[Replica]] = {}
    for replica in old:
        by_slot.setdefault(replica.slot, []).append(replica)
    stopped: list[Replica] = []
    started: list[tuple[int, str]] = []
    try:
        for first in range(0, n, batch):
            slots = list(range(first, min(first + batch, n)))
            for slot in slots:
                for replica in by_slot.get(slot, []):
                    if replica.state == "running":
                        progress.step(
                            f"Stopping old replica {slot + 1}",
                            kind="replica",
                            slot=slot,
                            state="stopping",
                        )
                        session.stop(replica.id, timeout=config["stop_grace_period"])
                        stopped.append(replica)
            batch_started = [
                (slot, _start(session, deployment, image, config, slot, "blue", progress, n))
                for slot in slots
            ]
            started.extend(batch_started)
            _wait_healthy(session, batch_started, config, progress, n)
            progress.step(
                f"{len(started)} of {n} replicas replaced",
                progress=30 + int(60 * len(started) / max(n, 1)),
            )
    except (DeploymentFailed, engine.EngineUnavailable):
        progress.step("Restoring the previous replicas", kind="step")
        _remove_started(session, started, progress)
        for replica in stopped:
            session.start(replica.id)
        raise
    progress.step("Removing old replicas", progress=92)
    for replica in old:
        session.remove(replica.id)


def _blue_green(
    session: EngineSession, deployment, image: str, config: dict, progress: Progress
) -> None:
    n = config["replicas"]
    old = [r for r in session.replicas(deployment.service.name) if r.deployment != deployment.pk]
    live = [r for r in old if r.state == "running"]
    colour = "green" if live and live[0].colour == "blue" else "blue"
    progress.step(f"Starting the {colour} set next to the live one", progress=35)
    started = [
        (slot, _start(session, deployment, image, config, slot, colour, progress, n))
        for slot in range(n)
    ]
    try:
        _wait_healthy(session, started, config, progress, n)
    except (DeploymentFailed, engine.EngineUnavailable):
        progress.step(f"Removing the {colour} set; the live set is untouched")
        _remove_started(session, started, progress)
        raise
    progress.step(f"Switching to {colour}; stopping the old set", progress=90)
    for replica in old:
        _retire(session, replica, config)


def swarm_service_name(service, environment) -> str:
    """The Swarm service a ``swarm`` deployment of ``service`` runs in ``environment``."""
    return f"{service.name}-{environment.slug}"


def _swarm(
    session: EngineSession, deployment, image: str, config: dict, progress: Progress
) -> None:
    name = swarm_service_name(deployment.service, deployment.environment)
    labels = _labels(deployment, 0, config["port"], "blue")
    for key in (engine.LABEL_SLOT, engine.LABEL_COLOUR):
        labels.pop(key)
    service, created = session.deploy_swarm(name=name, image=image, config=config, labels=labels)
    progress.step(("Created" if created else "Updating") + f" Swarm service {name}", progress=35)
    strategy = config["strategy"]
    deadline = (
        time.monotonic()
        + 120
        + config["replicas"] * (_health_deadline(config) + strategy.get("delay", 0))
        + strategy.get("monitor", 5)
    )
    seen: dict[str, str] = {}
    while True:
        state, tasks = session.swarm_state(service)
        current = [t for t in tasks if t.get("DesiredState") == "running"]
        for task in current:
            task_state = (task.get("Status") or {}).get("State", "")
            if seen.get(task["ID"]) != task_state:
                seen[task["ID"]] = task_state
                slot = int(task.get("Slot") or 0)
                progress.step(
                    f"Task {slot} is {task_state}",
                    kind="replica",
                    slot=max(slot - 1, 0),
                    state=task_state,
                )
        if state in ("rollback_started", "rollback_completed", "rollback_paused", "paused"):
            message = (service.attrs.get("UpdateStatus") or {}).get("Message", "")
            if state == "rollback_started":
                progress.step("Swarm is rolling back to the previous version")
                time.sleep(POLL)
                continue
            raise DeploymentFailed(
                f"Swarm {state.replace('_', ' ')}: {message or 'the new tasks did not stay healthy'}"
            )
        image_digest = image.split("@", 1)[1]
        fresh = [
            t for t in current
            if (t.get("Status") or {}).get("State") == "running"
            and image_digest in t["Spec"]["ContainerSpec"]["Image"]
        ]  # fmt: skip
        if state in ("completed", "") and len(fresh) >= config["replicas"]:
            return
        if time.monotonic() > deadline:
            raise DeploymentFailed(
                f"Swarm service {name} did not converge: {len(fresh)} of {config['replicas']} tasks running."
            )
        progress.beat()
        time.sleep(POLL)  # as often as `docker service update` checks


STRATEGIES = {
    "recreate": _recreate,
    "rolling": _rolling,
    "blue-green": _blue_green,
    "swarm": _swarm,
}


def run_strategy(session: EngineSession, deployment, progress: Progress) -> None:
    """Run ``deployment`` with its config's strategy."""
    config = deployment.config.document
    image = deployment.service.image(deployment.digest)
    _pull(session, image, progress)
    STRATEGIES[deployment.strategy](session, deployment, image, config, progress)

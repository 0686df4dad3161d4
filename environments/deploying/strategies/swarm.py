"""The Swarm strategy: a Swarm service with UpdateConfig, watched through UpdateStatus
and its tasks; a Swarm rollback is a failed deployment with the reason.

With entry points, Swarm's routing mesh is not used (it needs bridge networking and
iptables; see the README for production): each task listens on a port of its own,
``port + slot - 1``, plus 100 every other deployment (the colours of the standalone
strategies), so the new task of a start-first update never collides with the old one
of its slot. While Swarm updates, the proxy follows the tasks: a task that is running
(and so healthy, when the service has a health check) joins the entry point; one
Swarm is stopping drains; one gone leaves.
"""

from __future__ import annotations

import logging
import time

from environments import engine
from environments.deploying.strategies.base import (
    POLL,
    DeploymentFailed,
    Progress,
    health_deadline,
    replica_labels,
    replica_port,
)
from environments.deploying.traffic import TaskServer, Traffic
from environments.engine import EngineSession

__all__ = ["follow_swarm", "swarm", "task_servers"]

log = logging.getLogger(__name__)


def swarm(session: EngineSession, deployment, image: str, config: dict, progress: Progress) -> None:
    name = engine.swarm_service_name(deployment.service, deployment.environment)
    traffic = Traffic(deployment, config, progress, DeploymentFailed)
    ports = None
    colour = "blue"
    if traffic.follows_tasks:
        colour = _next_colour(session, name, deployment.service.name)
        ports = {
            slot: replica_port(config, slot - 1, colour)
            for slot in range(1, config["replicas"] + 1)
        }
    labels = replica_labels(deployment, 0, config["port"], colour)
    labels.pop(engine.LABEL_SLOT)
    if ports is None:
        labels.pop(engine.LABEL_COLOUR)
    service, created = session.deploy_swarm(
        name=name, image=image, config=config, labels=labels, ports=ports
    )
    progress.step(("Created" if created else "Updating") + f" Swarm service {name}", progress=35)
    if ports:
        progress.step(
            f"Tasks listen on ports {min(ports.values())}-{max(ports.values())} ({colour}); "
            "the entry point follows them",
            kind="traffic",
        )
    try:
        _watch(session, service, name, image, config, progress, traffic)
    finally:
        # Where Swarm leaves the tasks, success or not: the tasks it stops leave the
        # entry point once gone (they drain meanwhile; their grace period bounds it).
        follow_swarm(session, service, traffic, until_stopped=config["stop_grace_period"] + 5)


def _next_colour(session: EngineSession, name: str, service: str) -> str:
    """The other colour than the service's tasks have now (blue for a new service)."""
    existing = session.owned_swarm_service(name, service)
    labels = ((existing.attrs.get("Spec") or {}).get("Labels") or {}) if existing else {}
    return "green" if labels.get(engine.LABEL_COLOUR) == "blue" else "blue"


def task_servers(tasks: list[dict]) -> tuple[list[TaskServer], list[TaskServer]]:
    """(tasks serving, tasks Swarm is stopping) among ``tasks``, each with its port from
    its labels (base port, colour) and its slot. Tasks not running are neither."""
    serving, stopping = [], []
    for task in tasks:
        labels = (task.get("Spec") or {}).get("ContainerSpec", {}).get("Labels") or {}
        status = task.get("Status") or {}
        slot = int(task.get("Slot") or 0)
        base, colour = labels.get(engine.LABEL_PORT), labels.get(engine.LABEL_COLOUR)
        if status.get("State") != "running" or slot < 1 or not base or not colour:
            continue
        try:
            deployment_id = int(labels.get(engine.LABEL_DEPLOYMENT, ""))
        except ValueError:
            continue
        server = TaskServer(
            deployment_id=deployment_id,
            slot=slot - 1,
            port=replica_port({"port": int(base)}, slot - 1, colour),
            colour=colour,
            container_id=(status.get("ContainerStatus") or {}).get("ContainerID", ""),
        )
        (serving if task.get("DesiredState") == "running" else stopping).append(server)
    return serving, stopping


def follow_swarm(session: EngineSession, service, traffic: Traffic, until_stopped: float) -> None:
    """The entry point as Swarm leaves the tasks, following them until those it stops
    are gone (at most ``until_stopped`` seconds). Never raises: it runs once the outcome
    is known and must not hide it (the next deployment syncs again)."""
    if not traffic.follows_tasks:
        return
    deadline = time.monotonic() + until_stopped
    try:
        while True:
            _, tasks = session.swarm_state(service)
            serving, stopping = task_servers(tasks)
            traffic.follow(serving, stopping)
            if not stopping or time.monotonic() > deadline:
                return
            traffic.progress.beat()
            time.sleep(POLL)
    except (engine.EngineUnavailable, DeploymentFailed) as exc:
        log.warning("Could not update the entry point of %s: %s", service.name, exc)


def _watch(session, service, name, image, config, progress, traffic) -> None:
    strategy = config["strategy"]
    deadline = (
        time.monotonic()
        + 120
        + config["replicas"] * (health_deadline(config) + strategy.get("delay", 0))
        + strategy.get("monitor", 5)
    )
    seen: dict[str, str] = {}
    rolling_back = False
    while True:
        state, tasks = session.swarm_state(service)
        if traffic.follows_tasks:
            traffic.follow(*task_servers(tasks))
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
                if not rolling_back:  # said once; the wait below has the same deadline
                    rolling_back = True
                    progress.step("Swarm is rolling back to the previous version")
                if time.monotonic() > deadline:
                    raise DeploymentFailed(
                        f"Swarm rollback of {name} did not finish in time: "
                        f"{message or 'the new tasks did not stay healthy'}"
                    )
                progress.beat()
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

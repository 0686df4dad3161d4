"""The Swarm strategy: a Swarm service with UpdateConfig, watched through UpdateStatus
and its tasks; a Swarm rollback is a failed deployment with the reason."""

from __future__ import annotations

import time

from environments import engine
from environments.deploying.strategies.base import (
    POLL,
    DeploymentFailed,
    Progress,
    health_deadline,
    replica_labels,
)
from environments.engine import EngineSession

__all__ = ["swarm"]


def swarm(session: EngineSession, deployment, image: str, config: dict, progress: Progress) -> None:
    name = engine.swarm_service_name(deployment.service, deployment.environment)
    labels = replica_labels(deployment, 0, config["port"], "blue")
    for key in (engine.LABEL_SLOT, engine.LABEL_COLOUR):
        labels.pop(key)
    service, created = session.deploy_swarm(name=name, image=image, config=config, labels=labels)
    progress.step(("Created" if created else "Updating") + f" Swarm service {name}", progress=35)
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

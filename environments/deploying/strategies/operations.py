"""Operations on what already runs: stop and restart, recorded like deployments.

On a Swarm, the Swarm service Berth owns is itself scaled to 0 or force-updated: acting
on its task containers would only make Swarm replace them. On a standalone engine, each
replica Berth owns is stopped (its grace period) or restarted in turn, and a restarted
replica must be healthy before the next one goes, so a restart never takes all down.
A Swarm service behind entry points is restarted as a start-first update onto the
other colour's ports (the entry point follows its tasks), and a stopped one leaves it.
"""

from __future__ import annotations

import time

from environments import engine
from environments.deploying.strategies.base import (
    POLL,
    DeploymentFailed,
    Progress,
    health_deadline,
    wait_healthy,
)
from environments.deploying.strategies.swarm import follow_swarm, swarm
from environments.deploying.traffic import Traffic
from environments.engine import EngineSession

__all__ = ["OPERATIONS", "restart", "stop"]


def _swarm_service(session: EngineSession, deployment):
    if deployment.environment.mode != "swarm":
        return None, ""
    name = engine.swarm_service_name(deployment.service, deployment.environment)
    return session.owned_swarm_service(name, deployment.service.name), name


def _wait_swarm(session, service, done, deadline: float, progress: Progress, what: str) -> None:
    while True:
        _, tasks = session.swarm_state(service)
        if done(tasks):
            return
        if time.monotonic() > deadline:
            raise DeploymentFailed(f"Swarm service {service.name} did not {what} in time.")
        progress.beat()
        time.sleep(POLL)


def _running(tasks) -> list[dict]:
    return [t for t in tasks if (t.get("Status") or {}).get("State") == "running"]


def stop(session: EngineSession, deployment, config: dict, progress: Progress) -> None:
    service, name = _swarm_service(session, deployment)
    if service is not None:
        progress.step(f"Scaling Swarm service {name} to 0", progress=20)
        session.scale_swarm(service, 0)
        deadline = time.monotonic() + 60 + config["stop_grace_period"]
        _wait_swarm(session, service, lambda t: not _running(t), deadline, progress, "stop")
        if _behind_entry_points(deployment, config, progress):  # its tasks leave the proxy
            follow_swarm(
                session, service, Traffic(deployment, config, progress, DeploymentFailed), 0
            )
        progress.step(f"Swarm service {name} stopped: no task runs", progress=95)
        return
    running = [r for r in session.replicas(deployment.service.name) if r.state == "running"]
    if not running:
        progress.step("No replica is running", progress=95)
        return
    for index, replica in enumerate(running, start=1):
        progress.step(
            f"Stopping {replica.name}", kind="replica", slot=replica.slot, state="stopping",
            container=replica.name,
        )  # fmt: skip
        session.stop(replica.id, timeout=config["stop_grace_period"])
        progress.step(
            f"{index} of {len(running)} stopped", kind="replica", slot=replica.slot,
            state="exited", progress=10 + int(85 * index / len(running)),
        )  # fmt: skip


def restart(session: EngineSession, deployment, config: dict, progress: Progress) -> None:
    service, name = _swarm_service(session, deployment)
    if service is not None and _behind_entry_points(deployment, config, progress):
        # A forced update would start each new task on the port of the old one of its
        # slot: a start-first update on the other colour's ports instead, followed by
        # the entry point, as a deployment of the digest that runs.
        progress.step(f"Replacing every task of Swarm service {name} behind its entry point")
        swarm(session, deployment, deployment.service.image(deployment.digest), config, progress)
        return
    if service is not None:
        service.reload()
        spec = service.attrs["Spec"]
        replicas = (spec.get("Mode") or {}).get("Replicated", {}).get("Replicas", 0)
        if not replicas:  # stopped earlier: back to what the config asks for
            progress.step(f"Scaling Swarm service {name} to {config['replicas']}", progress=20)
            session.scale_swarm(service, config["replicas"])
            service.reload()
        wanted = replicas or config["replicas"]
        progress.step(f"Replacing every task of Swarm service {name}", progress=30)
        session.restart_swarm(service)
        service.reload()
        force = service.attrs["Spec"]["TaskTemplate"].get("ForceUpdate")

        def replaced(tasks) -> bool:  # every running task is a new one, and enough run
            running = _running(tasks)
            fresh = [t for t in running if t["Spec"].get("ForceUpdate") == force]
            return len(fresh) >= wanted and len(fresh) == len(running)

        deadline = time.monotonic() + 120 + wanted * health_deadline(config)
        _wait_swarm(session, service, replaced, deadline, progress, "restart")
        progress.step(f"{wanted} task(s) of {name} replaced", progress=95)
        return
    replicas = sorted(session.replicas(deployment.service.name), key=lambda r: r.slot)
    if not replicas:
        raise DeploymentFailed(f"No replica of {deployment.service.name} to restart.")
    for index, replica in enumerate(replicas, start=1):
        progress.step(
            f"Restarting {replica.name}", kind="replica", slot=replica.slot, state="restarting",
            container=replica.name,
        )  # fmt: skip
        session.restart(replica.id, timeout=config["stop_grace_period"])
        wait_healthy(session, [(replica.slot, replica.id)], config, progress, len(replicas))
        progress.step(
            f"{index} of {len(replicas)} restarted", progress=10 + int(85 * index / len(replicas))
        )


def _behind_entry_points(deployment, config: dict, progress: Progress) -> bool:
    return Traffic(deployment, config, progress, DeploymentFailed).follows_tasks


OPERATIONS = {"stop": stop, "restart": restart}

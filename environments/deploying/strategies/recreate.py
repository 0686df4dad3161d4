"""The recreate strategy: stop the old set, start the new one (the explicit downtime
strategy); the old set starts again if the new one fails."""

from __future__ import annotations

from environments import engine
from environments.deploying.strategies.base import (
    DeploymentFailed,
    Progress,
    remove_started,
    start_replica,
    wait_healthy,
)
from environments.engine import EngineSession

__all__ = ["recreate"]


def recreate(
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
                (slot, start_replica(session, deployment, image, config, slot, "blue", progress, n))
            )
        progress.step("Waiting for health", progress=60)
        wait_healthy(session, started, config, progress, n)
    except (DeploymentFailed, engine.EngineUnavailable):
        remove_started(session, started, progress)
        if running:
            progress.step("Starting the old replicas again")
            for replica in running:
                session.start(replica.id)
        raise
    for replica in old:
        session.remove(replica.id)

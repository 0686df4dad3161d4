"""The blue-green strategy: start the whole new colour beside the live one, wait until
it is healthy, then retire the old colour; the live set is never touched on failure."""

from __future__ import annotations

from environments import engine
from environments.deploying.strategies.base import (
    DeploymentFailed,
    Progress,
    remove_started,
    retire,
    start_replica,
    wait_healthy,
)
from environments.engine import EngineSession

__all__ = ["blue_green"]


def blue_green(
    session: EngineSession, deployment, image: str, config: dict, progress: Progress
) -> None:
    n = config["replicas"]
    old = [r for r in session.replicas(deployment.service.name) if r.deployment != deployment.pk]
    live = [r for r in old if r.state == "running"]
    colour = "green" if live and live[0].colour == "blue" else "blue"
    progress.step(f"Starting the {colour} set next to the live one", progress=35)
    started: list[tuple[int, str]] = []
    try:
        for slot in range(n):  # each one recorded as it starts: a refusal cleans up all
            started.append(
                (slot, start_replica(session, deployment, image, config, slot, colour, progress, n))
            )
        wait_healthy(session, started, config, progress, n)
    except (DeploymentFailed, engine.EngineUnavailable):
        progress.step(f"Removing the {colour} set; the live set is untouched")
        remove_started(session, started, progress)
        raise
    progress.step(f"Switching to {colour}; stopping the old set", progress=90)
    for replica in old:
        retire(session, replica, config)

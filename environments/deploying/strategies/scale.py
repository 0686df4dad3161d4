"""Scaling on a standalone engine: add the missing replicas (healthy, then into the
entry points) or drain and remove the extra ones, never touching the replicas that keep
running. A failure removes what it started; the running replicas keep serving."""

from __future__ import annotations

from environments import engine
from environments.deploying.strategies.base import (
    DeploymentFailed,
    Progress,
    remove_started,
    replica_port,
    retire,
    start_replica,
    wait_healthy,
)
from environments.deploying.traffic import Traffic
from environments.engine import EngineSession

__all__ = ["scale"]


def scale(session: EngineSession, deployment, image: str, config: dict, progress: Progress) -> None:
    n = config["replicas"]
    traffic = Traffic(deployment, config, progress, DeploymentFailed)
    standby = set(traffic.standby_ids())
    live = [
        r for r in session.replicas(deployment.service.name)
        if r.deployment != deployment.pk and r.state == "running" and r.id not in standby
    ]  # fmt: skip
    colour = live[0].colour if live else "blue"
    have = {r.slot for r in live}
    missing = [slot for slot in range(n) if slot not in have]
    extra = [r for r in live if r.slot >= n]
    progress.step(
        f"Scaling from {len(live)} to {n}: {len(missing)} to add, {len(extra)} to remove; "
        "running replicas stay as they are",
        progress=35,
    )
    started: list[tuple[int, str]] = []
    try:
        for slot in missing:
            started.append(
                (slot, start_replica(session, deployment, image, config, slot, colour, progress, n))
            )
        wait_healthy(session, started, config, progress, n)
        for slot, replica_id in started:
            traffic.join(replica_id, slot, replica_port(config, slot, colour), colour)
    except (DeploymentFailed, engine.EngineUnavailable):
        progress.step("Removing the replicas this scale started; the others are untouched")
        traffic.leave([replica_id for _, replica_id in started])
        remove_started(session, started, progress)
        raise
    if extra:
        traffic.drain([r.id for r in extra], config["strategy"].get("drain_timeout", 10))
        for replica in extra:
            progress.step(
                f"Removing replica {replica.slot + 1}", kind="replica", slot=replica.slot,
                state="stopping",
            )  # fmt: skip
            traffic.leave([replica.id])
            retire(session, replica, config)
    progress.step(f"{n} replica(s) running", progress=95)

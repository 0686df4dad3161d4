"""The rolling strategy: replace one batch at a time, each new replica healthy before
the next batch; on failure the new replicas go and the old ones start again."""

from __future__ import annotations

from environments import engine
from environments.deploying.strategies.base import (
    DeploymentFailed,
    Progress,
    remove_started,
    start_replica,
    wait_healthy,
)
from environments.engine import EngineSession, Replica

__all__ = ["rolling"]


def rolling(
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
            batch_started = []
            for slot in slots:  # recorded as each starts: a refusal mid-batch cleans up all
                replica_id = start_replica(
                    session, deployment, image, config, slot, "blue", progress, n
                )
                batch_started.append((slot, replica_id))
                started.append((slot, replica_id))
            wait_healthy(session, batch_started, config, progress, n)
            progress.step(
                f"{len(started)} of {n} replicas replaced",
                progress=30 + int(60 * len(started) / max(n, 1)),
            )
    except (DeploymentFailed, engine.EngineUnavailable):
        progress.step("Restoring the previous replicas", kind="step")
        remove_started(session, started, progress)
        for replica in stopped:
            session.start(replica.id)
        raise
    progress.step("Removing old replicas", progress=92)
    for replica in old:
        session.remove(replica.id)

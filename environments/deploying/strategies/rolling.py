"""The rolling strategy, start-first where ports allow: for each batch, start the new
replicas (on the other colour's ports, so old and new run side by side), wait until
they are healthy, add them to the service's entry points, drain the old ones (until
their connections end or the drain timeout) and stop them.

``max_surge`` and ``max_unavailable`` work as in Swarm's update config: of each batch,
up to ``max_unavailable`` old replicas go before their successors start (stop-first),
the rest after (start-first); ``max_surge: 0`` is the old stop-first rolling. On failure
the new replicas leave the entry points and go, and the old ones start again and come
back into rotation."""

from __future__ import annotations

from environments import engine
from environments.deploying.strategies.base import (
    DeploymentFailed,
    Progress,
    other_colour,
    remove_started,
    replica_port,
    start_replica,
    wait_healthy,
)
from environments.deploying.traffic import Traffic
from environments.engine import EngineSession, Replica

__all__ = ["rolling"]


def rolling(
    session: EngineSession, deployment, image: str, config: dict, progress: Progress
) -> None:
    strategy = config["strategy"]
    n, batch = config["replicas"], strategy.get("batch_size", 1)
    unavailable = strategy.get("max_unavailable", 0)
    surge = strategy.get("max_surge", 1)
    drain_timeout = strategy.get("drain_timeout", 10)
    traffic = Traffic(deployment, config, progress, DeploymentFailed)
    old = [r for r in session.replicas(deployment.service.name) if r.deployment != deployment.pk]
    live = [r for r in old if r.state == "running"]
    colour = other_colour(live) if surge else "blue"
    by_slot: dict[int, list[Replica]] = {}
    for replica in live:
        by_slot.setdefault(replica.slot, []).append(replica)
    stopped: list[Replica] = []
    started: list[tuple[int, str]] = []

    def stop(replicas: list[Replica]) -> None:
        for replica in replicas:
            progress.step(
                f"Stopping old replica {replica.slot + 1}", kind="replica", slot=replica.slot,
                state="stopping",
            )  # fmt: skip
            session.stop(replica.id, timeout=config["stop_grace_period"])
            stopped.append(replica)

    try:
        for first in range(0, n, batch):
            slots = list(range(first, min(first + batch, n)))
            olds = [r for slot in slots for r in by_slot.get(slot, [])]
            early, late = olds[:unavailable], olds[unavailable:]
            traffic.drain([r.id for r in early], drain_timeout)  # the stop-first share
            stop(early)
            batch_started = []
            for slot in slots:  # recorded as each starts: a refusal mid-batch cleans up all
                replica_id = start_replica(
                    session, deployment, image, config, slot, colour, progress, n
                )
                batch_started.append((slot, replica_id))
                started.append((slot, replica_id))
            wait_healthy(session, batch_started, config, progress, n)
            for slot, replica_id in batch_started:  # standing by: no traffic yet
                traffic.join(
                    replica_id, slot, replica_port(config, slot, colour), colour, state="drain"
                )
            # One step: the successors in, the start-first share out (clients switch once).
            traffic.switch([i for _, i in batch_started], [r.id for r in late], drain_timeout)
            stop(late)
            progress.step(
                f"{len(started)} of {n} replicas replaced",
                progress=30 + int(60 * len(started) / max(n, 1)),
            )
        extra = [r for r in live if r.slot >= n]  # scaled down in the same deployment
        if extra:
            traffic.drain([r.id for r in extra], drain_timeout)
            stop(extra)
    except (DeploymentFailed, engine.EngineUnavailable):
        progress.step("Restoring the previous replicas", kind="step")
        traffic.leave([replica_id for _, replica_id in started])
        remove_started(session, started, progress)
        for replica in stopped:
            session.start(replica.id)
        traffic.restore([r.id for r in live])
        raise
    progress.step("Removing old replicas", progress=92)
    traffic.leave([r.id for r in old])
    for replica in old:
        session.remove(replica.id)

"""The blue-green strategy: start the whole new colour beside the live one, wait until
it is healthy, then switch.

With entry points, the switch is one Runtime API message (the new colour into rotation,
the old one out), the old colour drains and then stands by, still running, for
``keep_old_for`` seconds so that "Switch back" is instant; the periodic retirement
removes it afterwards (and a later deployment retires it first). Without entry points
the old colour is stopped at once. The live set is never touched on failure."""

from __future__ import annotations

from environments import engine
from environments.deploying.strategies.base import (
    DeploymentFailed,
    Progress,
    other_colour,
    remove_started,
    replica_port,
    retire,
    start_replica,
    wait_healthy,
)
from environments.deploying.traffic import Traffic
from environments.engine import EngineSession

__all__ = ["blue_green"]


def blue_green(
    session: EngineSession, deployment, image: str, config: dict, progress: Progress
) -> None:
    n = config["replicas"]
    strategy = config["strategy"]
    traffic = Traffic(deployment, config, progress, DeploymentFailed)
    old = [r for r in session.replicas(deployment.service.name) if r.deployment != deployment.pk]
    standby = set(traffic.standby_ids())
    if standby:  # a colour kept for switching back: its window ends with a new deployment
        progress.step(f"Retiring {len(standby)} replica(s) kept from an earlier deployment")
        for replica in [r for r in old if r.id in standby]:
            traffic.leave([replica.id])
            retire(session, replica, config)
        old = [r for r in old if r.id not in standby]
    live = [r for r in old if r.state == "running"]
    colour = other_colour(live)
    progress.step(f"Starting the {colour} set next to the live one", progress=35)
    started: list[tuple[int, str]] = []
    try:
        for slot in range(n):  # each one recorded as it starts: a refusal cleans up all
            started.append(
                (slot, start_replica(session, deployment, image, config, slot, colour, progress, n))
            )
        wait_healthy(session, started, config, progress, n)
        for slot, replica_id in started:  # standing by: no traffic until the switch
            traffic.join(
                replica_id, slot, replica_port(config, slot, colour), colour, state="drain"
            )
    except (DeploymentFailed, engine.EngineUnavailable):
        progress.step(f"Removing the {colour} set; the live set is untouched")
        traffic.leave([replica_id for _, replica_id in started])
        remove_started(session, started, progress)
        raise
    keep = strategy.get("keep_old_for", 0) if traffic.enabled else 0
    if traffic.enabled:
        progress.step(f"Switching the entry point to {colour}", progress=85)
        traffic.switch(
            [i for _, i in started], [r.id for r in live], strategy.get("drain_timeout", 10)
        )
    if keep and live:
        traffic.stand_by([r.id for r in live], keep)
        progress.step(
            f"The old set keeps running out of rotation for {keep:g} s: switch back at once "
            "until then",
            progress=95,
        )
        for replica in [r for r in old if r not in live]:
            retire(session, replica, config)
        return
    progress.step(f"Switched to {colour}; stopping the old set", progress=90)
    traffic.leave([r.id for r in old])
    for replica in old:
        retire(session, replica, config)

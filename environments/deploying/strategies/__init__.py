"""Deployment strategies: recreate, rolling, blue-green on a Docker Engine, and Swarm,
one module each on :mod:`.base`, and the stop and restart operations (:mod:`.operations`). :func:`run_strategy` pulls the image and runs the
deployment's strategy."""

from __future__ import annotations

from environments.deploying.strategies.base import (
    DeploymentCancelled,
    DeploymentFailed,
    Progress,
    pull_image,
)
from environments.deploying.strategies.blue_green import blue_green
from environments.deploying.strategies.operations import OPERATIONS
from environments.deploying.strategies.recreate import recreate
from environments.deploying.strategies.rolling import rolling
from environments.deploying.strategies.scale import scale
from environments.deploying.strategies.swarm import swarm
from environments.engine import EngineSession

__all__ = [
    "OPERATIONS",
    "STRATEGIES",
    "DeploymentCancelled",
    "DeploymentFailed",
    "Progress",
    "run_strategy",
]

STRATEGIES = {
    "recreate": recreate,
    "rolling": rolling,
    "blue-green": blue_green,
    "swarm": swarm,
    "scale": scale,  # what scale_service runs on a standalone engine
}


def run_strategy(session: EngineSession, deployment, progress: Progress) -> None:
    """Run ``deployment`` with its config's strategy, or its operation (stop, restart)."""
    config = deployment.config.document
    if deployment.action in OPERATIONS:
        OPERATIONS[deployment.action](session, deployment, config, progress)
        return
    image = deployment.service.image(deployment.digest)
    pull_image(session, image, progress)
    STRATEGIES[deployment.strategy](session, deployment, image, config, progress)

"""The environments app's models: environments and grants, services and their configs,
deployments and their events, entry points and proxy servers, each with its QuerySet (``restrict(user, action)`` first)."""

from environments.models.deployments import Deployment, DeploymentEvent
from environments.models.environments import (
    Environment,
    EnvironmentGroupObjectPermission,
    EnvironmentUserObjectPermission,
    RoleGrant,
)
from environments.models.services import Service, ServiceConfig
from environments.models.traffic import EntryPoint, ProxyServer

__all__ = [
    "Deployment",
    "DeploymentEvent",
    "EntryPoint",
    "Environment",
    "EnvironmentGroupObjectPermission",
    "EnvironmentUserObjectPermission",
    "ProxyServer",
    "RoleGrant",
    "Service",
    "ServiceConfig",
]

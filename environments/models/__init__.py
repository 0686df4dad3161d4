"""The environments app's models: environments and grants, services and their configs,
deployments and their events, exec sessions, favourites, entry points and proxy servers, each with its
QuerySet (``restrict(user, action)`` first)."""

from environments.models.deployments import Deployment, DeploymentEvent
from environments.models.environments import (
    Environment,
    EnvironmentGroupObjectPermission,
    EnvironmentUserObjectPermission,
    RoleGrant,
)
from environments.models.exec_sessions import ExecSession
from environments.models.favourites import Favourite
from environments.models.services import Service, ServiceConfig
from environments.models.traffic import EntryPoint, ProxyServer

__all__ = [
    "Deployment",
    "DeploymentEvent",
    "EntryPoint",
    "Environment",
    "EnvironmentGroupObjectPermission",
    "EnvironmentUserObjectPermission",
    "ExecSession",
    "Favourite",
    "ProxyServer",
    "RoleGrant",
    "Service",
    "ServiceConfig",
]

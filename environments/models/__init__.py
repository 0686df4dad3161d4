"""The environments app's models: environments and grants, services and their configs,
deployments and their events, exec sessions, each with its QuerySet (``restrict(user, action)`` first)."""

from environments.models.deployments import Deployment, DeploymentEvent
from environments.models.environments import (
    Environment,
    EnvironmentGroupObjectPermission,
    EnvironmentUserObjectPermission,
    RoleGrant,
)
from environments.models.exec_sessions import ExecSession
from environments.models.services import Service, ServiceConfig

__all__ = [
    "Deployment",
    "DeploymentEvent",
    "Environment",
    "EnvironmentGroupObjectPermission",
    "EnvironmentUserObjectPermission",
    "ExecSession",
    "RoleGrant",
    "Service",
    "ServiceConfig",
]

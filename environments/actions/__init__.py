"""Every state change of the environments app, as verb-first functions.

One module per noun: ``environments`` (environments, grants, endpoint state),
``services`` (services, configs, scale, restart, stop), ``deployments`` (deploy,
rollback), ``containers`` (inspect, restart, stop, start, log), ``exec_sessions`` (exec),
``favourites`` (star, unstar). Each checks permission
through :mod:`environments.access`, runs in a transaction, writes the audit log and
sends its events after commit. Browser, API, consumers, tasks and tests call these.
"""

from environments.actions.candidates import deploy_candidates
from environments.actions.containers import (
    ContainerNotFound,
    inspect_container,
    open_container_log,
    restart_container,
    start_container,
    stop_container,
)
from environments.actions.deployments import (
    DeploymentConflict,
    cancel_deployment,
    deploy,
    rollback,
    switch_back,
)
from environments.actions.environments import (
    create_environment,
    delete_environment,
    grant_role,
    grant_role_where_it_applies,
    refresh_endpoint_state,
    request_probe,
    revoke_grant,
    update_environment,
)
from environments.actions.exec_sessions import (
    TooManySessions,
    finish_exec_session,
    start_exec_session,
    touch_exec_session,
)
from environments.actions.favourites import favourites_of, star, star_ids, unstar
from environments.actions.services import (
    create_service,
    restart_service,
    save_config,
    scale_service,
    stop_service,
)

__all__ = [
    "ContainerNotFound",
    "DeploymentConflict",
    "TooManySessions",
    "cancel_deployment",
    "create_environment",
    "finish_exec_session",
    "start_exec_session",
    "touch_exec_session",
    "create_service",
    "delete_environment",
    "deploy",
    "deploy_candidates",
    "favourites_of",
    "grant_role",
    "grant_role_where_it_applies",
    "inspect_container",
    "open_container_log",
    "refresh_endpoint_state",
    "request_probe",
    "restart_container",
    "restart_service",
    "revoke_grant",
    "rollback",
    "switch_back",
    "save_config",
    "scale_service",
    "star",
    "star_ids",
    "start_container",
    "stop_container",
    "stop_service",
    "unstar",
    "update_environment",
]

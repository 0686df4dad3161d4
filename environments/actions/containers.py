"""Operations on one container of an environment: inspect (secrets masked), restart,
stop, start, and its log as a download.

Every function takes the acting user and checks the environment action itself, like the
other domain functions; browser, API and tests call these. An environment only sees the
containers it owns (:func:`engine.owns_container`): an unknown container, one owned by
another environment and one of an environment the user cannot see are the same 404.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

from environments import access, engine
from environments.deploying.config import MASK
from environments.live.download import LogDownload
from environments.models import Environment, Service
from environments.roles import DEPLOY, LOGS, VIEW
from portal.core import audit
from portal.core.errors import NotFound

__all__ = [
    "ContainerNotFound",
    "inspect_container",
    "mask_container_env",
    "open_container_log",
    "restart_container",
    "start_container",
    "stop_container",
]

# Environment variable names whose values are never shown, whatever the service config says.
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|KEY|CREDENTIAL|PRIVATE|AUTH", re.I)


class ContainerNotFound(NotFound):
    """No such container in this environment (or not one the environment owns)."""


def _owned_document(environment: Environment, reference: str) -> dict:
    """The inspect document of ``reference`` if ``environment`` owns it, else 404."""
    try:
        document = engine.container_document(environment, reference)
    except engine.ContainerMissing:
        document = None
    labels = ((document or {}).get("Config") or {}).get("Labels")
    if document is None or not engine.owns_container(environment, labels):
        raise ContainerNotFound("No such container in this environment.")
    return document


def _configured_secrets(environment: Environment, labels: dict) -> set[str]:
    """``secret_env`` of the current config of the Berth service the container belongs to."""
    name = labels.get(engine.LABEL_SERVICE)
    service = Service.objects.filter(name=name).first() if name else None
    config = service.current_config(environment) if service else None
    return set((config.document or {}).get("secret_env") or []) if config else set()


def mask_container_env(document: dict, secret_names: set[str]) -> dict:
    """``document`` with the values of secret environment variables in ``Config.Env``
    replaced by the mask: those named in ``secret_names`` and any secret-looking name."""
    config = dict(document.get("Config") or {})
    masked = []
    for entry in config.get("Env") or []:
        name, sep, value = entry.partition("=")
        if sep and value and (name in secret_names or SECRET_NAME.search(name)):
            entry = f"{name}={MASK}"
        masked.append(entry)
    if config.get("Env") is not None:
        config["Env"] = masked
    return {**document, "Config": config}


def inspect_container(user, environment: Environment, reference: str) -> dict:
    """Docker's inspect document of a container the environment owns, with secret
    environment values masked. Needs ``view_environment``."""
    access.require(user, environment, VIEW)
    document = _owned_document(environment, reference)
    labels = (document.get("Config") or {}).get("Labels") or {}
    return mask_container_env(document, _configured_secrets(environment, labels))


def _operate(
    user, environment: Environment, reference: str, verb: str, confirm: bool = True
) -> dict:
    access.require(user, environment, DEPLOY)
    document = _owned_document(environment, reference)
    if environment.protected and not confirm:
        raise ValidationError(
            {"confirm": f"{environment.name} is protected: confirm the {verb} explicitly."}
        )
    try:
        result = engine.operate_container(environment, document["Id"], verb)
    except engine.ContainerMissing:
        raise ContainerNotFound("No such container in this environment.") from None
    audit.record(
        user,
        f"container.{verb}",
        environment=environment,
        target_type="container",
        target_repr=result["name"],
        details={"container_id": result["id"], "name": result["name"], "state": result["state"]},
    )
    return result


def restart_container(
    user, environment: Environment, reference: str, *, confirm: bool = False
) -> dict:
    """Restart a container the environment owns; ``{"id", "name", "state"}`` afterwards.
    Needs ``deploy_to_environment`` and, in a protected environment, ``confirm``;
    audited as ``container.restart``."""
    return _operate(user, environment, reference, "restart", confirm)


def stop_container(
    user, environment: Environment, reference: str, *, confirm: bool = False
) -> dict:
    """Stop a container the environment owns (SIGTERM, SIGKILL after 10 s).
    Needs ``deploy_to_environment`` and, in a protected environment, ``confirm``;
    audited as ``container.stop``."""
    return _operate(user, environment, reference, "stop", confirm)


def start_container(user, environment: Environment, reference: str) -> dict:
    """Start a stopped container the environment owns.
    Needs ``deploy_to_environment``; audited as ``container.start``."""
    return _operate(user, environment, reference, "start")


def open_container_log(
    user,
    environment: Environment,
    reference: str,
    *,
    since: str = "",
    until: str = "",
    tail: int | None = None,
):
    """A started :class:`~environments.live.download.LogDownload` of a container the
    environment owns (the caller streams and closes it). Needs ``view_logs``. Blocking."""
    access.require(user, environment, LOGS)
    container = engine.find_container(environment, reference)
    if container is None:
        raise ContainerNotFound("No such container in this environment.")
    download = LogDownload(environment, container, since, until, tail=tail)
    try:
        download.open()
    except engine.ContainerMissing:
        raise ContainerNotFound("No such container in this environment.") from None
    return download

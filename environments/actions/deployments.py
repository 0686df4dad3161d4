"""Deploying a service's digest, rolling back, and stopping or restarting what runs:
the state changes, each a recorded Deployment run by a worker.

``deploy()`` records a pending Deployment and its first event before anything touches
an engine, then hands the id to Celery after commit; the runner
(:mod:`environments.deploying.runner`) does the work.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from environments import access
from environments.deploying import policy, traffic
from environments.deploying.runner import CANCEL_EVENT, record_event
from environments.models import Deployment, Environment, Service, ServiceConfig
from environments.roles import DEPLOY
from portal.core import audit
from portal.core.errors import Conflict
from portal.core.tasks import dispatch_on_commit
from registry.client import RegistryClient, RegistryError, validate_digest
from registry.models import Promotion

__all__ = [
    "DeploymentConflict",
    "cancel_deployment",
    "deploy",
    "operate_service",
    "rollback",
    "switch_back",
]


class DeploymentConflict(Conflict):
    """Another deployment of the service is active in the environment (HTTP 409)."""

    def __init__(self, active: Deployment):
        super().__init__(
            f"Deployment #{active.pk} of {active.service} to {active.environment} is still "
            f"{active.status}; wait for it to finish.",
            active_deployment=active.pk,
        )


def _check_digest(service: Service, digest: str) -> None:
    try:
        validate_digest(digest)
    except ValueError as exc:
        raise ValidationError({"digest": str(exc)}) from None
    try:
        found = RegistryClient.for_registry(service.registry).resolve(service.repository, digest)
    except RegistryError as exc:
        raise ValidationError({"digest": str(exc)}) from None
    if found != digest:
        raise ValidationError(
            {
                "digest": f"{service.registry.host}/{service.repository}@{digest[:19]}… is not in the registry."
            }
        )


def _check_promoted(service: Service, environment: Environment, digest: str) -> None:
    promoted = Promotion.objects.succeeded_into(
        environment, service.registry, service.repository, digest
    ).exists()
    if not promoted:
        raise ValidationError(
            {
                "digest": f"{environment.name} only runs digests promoted into it: sign off "
                f"{digest[:19]}… in the previous environment first."
            }
        )


def deploy(
    service: Service,
    environment: Environment,
    digest: str,
    *,
    user,
    confirm: bool = False,
    config: ServiceConfig | None = None,
    rollback_of: Deployment | None = None,
    strategy: str | None = None,
) -> Deployment:
    """Deploy ``service@digest`` with its current (or the given) config revision, by
    the config's strategy (or ``strategy``: scale)."""
    access.require(user, environment, DEPLOY)
    config = config or service.current_config(environment)
    if config is None:
        raise ValidationError(
            f"{service} has no configuration in {environment.name}: save one first."
        )
    # The policy, and the ports and names reserved for entry points, may have changed
    # since the config was saved (a rollback's older revision included).
    policy.check_config(environment, config.document)
    policy.check_entry_reservations(user, environment, config.document)
    if environment.protected:
        if not confirm:
            raise ValidationError(
                {"confirm": f"{environment.name} is protected: confirm the deployment explicitly."}
            )
        _check_promoted(service, environment, digest)
    _check_digest(service, digest)
    return _queue(
        service, environment, digest, config, user=user, action=Deployment.Action.DEPLOY,
        strategy=strategy or config.document["strategy"]["type"], rollback_of=rollback_of,
        audit_action="deployment.rollback" if rollback_of else "deployment.create",
    )  # fmt: skip


def operate_service(
    service: Service, environment: Environment, action: str, *, user, confirm: bool = False
) -> Deployment:
    """Stop or restart what runs of ``service`` in ``environment``, as a recorded
    operation (status, progress, log) that a worker runs like a deployment. On a Swarm
    the service itself is scaled to 0 or force-updated, so Swarm does not replace what
    was stopped; on a standalone engine each replica Berth owns is stopped or restarted
    in turn."""
    access.require(user, environment, DEPLOY)
    if action not in (Deployment.Action.STOP, Deployment.Action.RESTART):
        raise ValidationError({"action": "Operations are stop and restart."})
    if environment.protected and not confirm:
        raise ValidationError(
            {"confirm": f"{environment.name} is protected: confirm the {action} explicitly."}
        )
    last = Deployment.objects.last_succeeded(service, environment)
    config = service.current_config(environment)
    if last is None or config is None:
        raise ValidationError(f"{service} has never been deployed to {environment.name}.")
    return _queue(
        service, environment, last.digest, last.config, user=user, action=action,
        strategy=action, audit_action=f"service.{action}",
    )  # fmt: skip


def _queue(service, environment, digest, config, *, user, action, strategy, audit_action,
           rollback_of=None) -> Deployment:  # fmt: skip
    """The record and its first event, then the task after commit; one active record per
    service and environment (409 naming it)."""
    try:
        with transaction.atomic():
            active = (
                Deployment.objects.active().filter(service=service, environment=environment).first()
            )
            if active:
                raise DeploymentConflict(active)
            deployment = Deployment.objects.create(
                service=service, environment=environment, digest=digest, config=config,
                action=action, strategy=strategy, actor=user, rollback_of=rollback_of,
            )  # fmt: skip
            record_event(deployment, "step", "Queued", {}, 0)
            audit.record(
                user, audit_action, deployment, environment=environment,
                details={"digest": digest, "revision": config.revision, "strategy": strategy},
            )  # fmt: skip
            dispatch_on_commit("environments.tasks.run_deployment", deployment.pk)
    except IntegrityError:
        # Two requests raced past the check: the database's constraint decided.
        active = (
            Deployment.objects.active().filter(service=service, environment=environment).first()
        )
        raise DeploymentConflict(active) from None
    return deployment


def rollback(deployment: Deployment, *, user, confirm: bool = False) -> Deployment:
    """Redeploy the digest and config revision of the last successful deployment before
    ``deployment``, as a new deployment."""
    access.require(user, deployment.environment, DEPLOY)
    if deployment.action != Deployment.Action.DEPLOY:
        raise ValidationError(
            f"#{deployment.pk} is a {deployment.action}, not a deployment: roll back a deployment."
        )
    previous = Deployment.objects.last_succeeded(
        deployment.service, deployment.environment, before=deployment
    )
    if previous is None:
        raise ValidationError("There is no earlier successful deployment to roll back to.")
    return deploy(
        deployment.service, deployment.environment, previous.digest, user=user,
        confirm=confirm, config=previous.config, rollback_of=deployment,
    )  # fmt: skip


def switch_back(deployment: Deployment, *, user) -> Deployment:
    """Blue-green: send the entry points back to the colour the deployment replaced,
    while it still runs out of rotation (``keep_old_for``). Instant: one Runtime API
    message. The deployment then no longer counts as what runs (cancelled, with who
    switched back), so rollback and operations see the previous one again."""
    access.require(user, deployment.environment, DEPLOY)
    service, environment = deployment.service, deployment.environment
    last = Deployment.objects.last_succeeded(service, environment)
    if last is None or last.pk != deployment.pk or deployment.strategy != "blue-green":
        raise ValidationError(
            f"#{deployment.pk} is not the blue-green deployment that serves now: only that one "
            "can be switched back."
        )
    active = Deployment.objects.active().filter(service=service, environment=environment).first()
    if active:
        raise DeploymentConflict(active)
    with transaction.atomic():
        names = traffic.switch_back(service, environment, deployment)
        if not names:
            raise ValidationError(
                "The previous colour is no longer kept (its switch-back time is over): "
                "roll back instead."
            )
        reason = f"switched back to the previous version by {user}"
        Deployment.objects.filter(pk=deployment.pk).update(
            status=Deployment.Status.CANCELLED, reason=reason
        )
        record_event(deployment, "step", f"Switched back: {', '.join(names)} serve again", {}, None)
        audit.record(
            user, "deployment.switch_back", deployment, environment=environment,
            details={"digest": deployment.digest, "servers": names},
        )  # fmt: skip
        dispatch_on_commit("environments.tasks.retire_standby")
    deployment.refresh_from_db()
    return deployment


def cancel_deployment(deployment: Deployment, *, user, reason: str = "") -> Deployment:
    """Stop a deployment that has not finished: a pending one is cancelled at once; a
    running one at its runner's next checkpoint (before a replica starts, while it waits
    for health), where the strategy undoes what it did, as after a failure (new replicas
    removed, old ones serving), and the deployment ends cancelled with ``reason``. Needs
    ``deploy_to_environment`` there."""
    access.require(user, deployment.environment, DEPLOY)
    if deployment.action != Deployment.Action.DEPLOY:
        raise Conflict(
            f"#{deployment.pk} is a {deployment.action}: only deployments are cancelled."
        )
    reason = reason or f"cancelled by {user}"
    with transaction.atomic():
        if Deployment.objects.filter(pk=deployment.pk, status=Deployment.Status.PENDING).update(
            status=Deployment.Status.CANCELLED, reason=reason, finished_at=timezone.now()
        ):
            record_event(deployment, "failed", f"Deployment cancelled: {reason}",
                         {"status": Deployment.Status.CANCELLED}, None)  # fmt: skip
        elif Deployment.objects.filter(pk=deployment.pk, status=Deployment.Status.RUNNING).exists():
            record_event(deployment, CANCEL_EVENT, f"Cancel requested: {reason}",
                         {"reason": reason, "by": str(user)}, None)  # fmt: skip
        else:
            deployment.refresh_from_db()
            raise Conflict(f"Deployment #{deployment.pk} already {deployment.status}.")
        audit.record(user, "deployment.cancel", deployment, environment=deployment.environment,
                     details={"digest": deployment.digest, "reason": reason})  # fmt: skip
    deployment.refresh_from_db()
    return deployment

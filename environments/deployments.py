"""Services, their configs and deployments: the state changes.

``deploy()`` records a pending Deployment and its first event before anything touches
an engine, then hands the id to Celery after commit. The runner
(:func:`run_deployment`) claims it atomically, so a redelivered task finds it already
claimed and does nothing; :func:`reap_stale_deployments` fails deployments whose worker
stopped beating, within a bounded time.
"""

from __future__ import annotations

import logging
import socket
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from environments import access, engine
from environments import config as config_schema
from environments.models import Deployment, DeploymentEvent, Environment, Service, ServiceConfig
from environments.roles import DEPLOY
from environments.strategies import DeploymentFailed, Progress, run_strategy
from portal import audit
from portal.events import broadcast_on_commit
from registry.client import RegistryClient, RegistryError, validate_digest, validate_repository

__all__ = [
    "DeploymentConflict",
    "create_service",
    "deploy",
    "deployment_group",
    "reap_stale_deployments",
    "restart_service",
    "rollback",
    "run_deployment",
    "save_config",
    "scale_service",
    "stop_service",
]

log = logging.getLogger(__name__)


class DeploymentConflict(Exception):
    """Another deployment of the service is active in the environment (HTTP 409)."""

    def __init__(self, active: Deployment):
        self.active = active
        super().__init__(
            f"Deployment #{active.pk} of {active.service} to {active.environment} is still "
            f"{active.status}; wait for it to finish."
        )


def deployment_group(deployment_id: int) -> str:
    return f"deployment.{deployment_id}"


# --- services and configs ----------------------------------------------------------------


@transaction.atomic
def create_service(user, *, name: str, registry, repository: str, description: str = "") -> Service:
    """A new service; anyone who may deploy somewhere can create one."""
    if not (user.is_superuser or Environment.objects.restrict(user, DEPLOY).exists()):
        raise PermissionDenied("You may not deploy anywhere, so you cannot create services.")
    try:
        validate_repository(repository)
    except ValueError as exc:
        raise ValidationError({"repository": str(exc)}) from None
    service = Service(
        name=name,
        registry=registry,
        repository=repository,
        description=description,
        created_by=user,
    )
    service.full_clean()
    service.save()
    audit.record(
        user, "service.create", service, details={"repository": f"{registry.host}/{repository}"}
    )
    return service


@transaction.atomic
def save_config(
    user, service: Service, environment: Environment, document: dict, comment: str = ""
) -> ServiceConfig:
    """Validate and store a new config revision; a masked secret keeps its stored value."""
    access.require(user, environment, DEPLOY)
    previous = service.current_config(environment)
    if previous and isinstance(document, dict) and isinstance(document.get("env"), dict):
        document = dict(document, env={
            name: (previous.document["env"].get(name, value) if value == config_schema.MASK else value)
            for name, value in document["env"].items()
        })  # fmt: skip
    normalised = config_schema.validate(document)
    if previous and previous.document == normalised:
        return previous
    revision = ServiceConfig.objects.create(
        service=service, environment=environment, document=normalised, comment=comment,
        revision=(previous.revision + 1) if previous else 1, created_by=user,
    )  # fmt: skip
    audit.record(
        user, "service.config", revision, environment=environment,
        details={"revision": revision.revision, "config": config_schema.mask_secrets(normalised)},
    )  # fmt: skip
    return revision


# --- deploying ---------------------------------------------------------------------------------


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
    from registry.models import Promotion

    promoted = Promotion.objects.filter(
        target_environment=environment, target_registry=service.registry,
        target_repository=service.repository, digest=digest, status=Promotion.Status.SUCCEEDED,
    ).exists()  # fmt: skip
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
) -> Deployment:
    """Deploy ``service@digest`` with its current (or the given) config revision."""
    access.require(user, environment, DEPLOY)
    config = config or service.current_config(environment)
    if config is None:
        raise ValidationError(
            f"{service} has no configuration in {environment.name}: save one first."
        )
    if environment.protected:
        if not confirm:
            raise ValidationError(
                {"confirm": f"{environment.name} is protected: confirm the deployment explicitly."}
            )
        _check_promoted(service, environment, digest)
    _check_digest(service, digest)
    try:
        with transaction.atomic():
            active = Deployment.objects.filter(
                service=service, environment=environment, status__in=Deployment.ACTIVE
            ).first()
            if active:
                raise DeploymentConflict(active)
            deployment = Deployment.objects.create(
                service=service, environment=environment, digest=digest, config=config,
                strategy=config.document["strategy"]["type"], actor=user, rollback_of=rollback_of,
            )  # fmt: skip
            _event(deployment, "step", "Queued", {}, 0)
            audit.record(
                user, "deployment.rollback" if rollback_of else "deployment.create", deployment,
                environment=environment,
                details={"digest": digest, "revision": config.revision, "strategy": deployment.strategy},
            )  # fmt: skip
            transaction.on_commit(lambda: _enqueue(deployment.pk))
    except IntegrityError:
        # Two requests raced past the check: the database's constraint decided.
        active = Deployment.objects.filter(
            service=service, environment=environment, status__in=Deployment.ACTIVE
        ).first()
        raise DeploymentConflict(active) from None
    return deployment


def _enqueue(deployment_id: int) -> None:
    from environments.tasks import run_deployment_task

    run_deployment_task.delay(deployment_id)


def rollback(deployment: Deployment, *, user, confirm: bool = False) -> Deployment:
    """Redeploy the digest and config revision of the last successful deployment before
    ``deployment``, as a new deployment."""
    access.require(user, deployment.environment, DEPLOY)
    previous = (
        Deployment.objects.filter(
            service=deployment.service, environment=deployment.environment,
            status=Deployment.Status.SUCCEEDED, created_at__lt=deployment.created_at,
        ).order_by("-created_at").first()
    )  # fmt: skip
    if previous is None:
        raise ValidationError("There is no earlier successful deployment to roll back to.")
    return deploy(
        deployment.service, deployment.environment, previous.digest, user=user,
        confirm=confirm, config=previous.config, rollback_of=deployment,
    )  # fmt: skip


def _last_success(service: Service, environment: Environment) -> Deployment:
    last = Deployment.objects.filter(
        service=service, environment=environment, status=Deployment.Status.SUCCEEDED
    ).first()
    if last is None:
        raise ValidationError(f"{service} has never been deployed to {environment.name}.")
    return last


def scale_service(
    service: Service, environment: Environment, replicas: int, *, user, confirm: bool = False
) -> Deployment:
    """A new config revision with ``replicas``, deployed with the running digest."""
    access.require(user, environment, DEPLOY)
    last = _last_success(service, environment)
    document = dict(service.current_config(environment).document, replicas=replicas)
    revision = save_config(user, service, environment, document, comment=f"scale to {replicas}")
    return deploy(service, environment, last.digest, user=user, confirm=confirm, config=revision)


def _act_on_replicas(service: Service, environment: Environment, user, verb: str) -> int:
    access.require(user, environment, DEPLOY)
    with engine.session(environment, timeout=60) as session:
        replicas = session.replicas(service.name)
        for replica in replicas:
            getattr(session, verb)(replica.id)
    audit.record(
        user,
        f"service.{verb}",
        service,
        environment=environment,
        details={"containers": len(replicas)},
    )
    return len(replicas)


def restart_service(service: Service, environment: Environment, *, user) -> int:
    """Restart every replica Berth owns for the service in the environment."""
    return _act_on_replicas(service, environment, user, "restart")


def stop_service(service: Service, environment: Environment, *, user) -> int:
    """Stop every replica Berth owns for the service in the environment."""
    return _act_on_replicas(service, environment, user, "stop")


# --- running -----------------------------------------------------------------------------------


def _event(
    deployment: Deployment, kind: str, message: str, data: dict, progress: int | None
) -> None:
    with transaction.atomic():
        seq = deployment.events.count() + 1
        event = DeploymentEvent.objects.create(
            deployment=deployment, seq=seq, kind=kind, message=message, data=data
        )
        changes = {"heartbeat_at": timezone.now()}
        if progress is not None:
            changes["progress"] = progress
        Deployment.objects.filter(pk=deployment.pk).update(**changes)
        broadcast_on_commit(
            deployment_group(deployment.pk),
            {"type": "deployment.event", "event": event.as_message(), "progress": progress},
        )


def _finish(deployment: Deployment, status: str, reason: str = "") -> None:
    with transaction.atomic():
        Deployment.objects.filter(pk=deployment.pk).update(
            status=status, reason=reason, finished_at=timezone.now(),
            progress=100 if status == Deployment.Status.SUCCEEDED else F("progress"),
        )  # fmt: skip
        _event(deployment, "done" if status == Deployment.Status.SUCCEEDED else "failed",
               "Deployment succeeded" if status == Deployment.Status.SUCCEEDED else f"Deployment {status}: {reason}",
               {"status": status}, 100 if status == Deployment.Status.SUCCEEDED else None)  # fmt: skip
        audit.record(
            deployment.actor, f"deployment.{status}", deployment, environment=deployment.environment,
            details={"digest": deployment.digest, "reason": reason},
        )  # fmt: skip


def run_deployment(deployment_id: int) -> None:
    """Claim and run one deployment. A second delivery of the same task claims nothing."""
    claimed = Deployment.objects.filter(pk=deployment_id, status=Deployment.Status.PENDING).update(
        status=Deployment.Status.RUNNING, started_at=timezone.now(), heartbeat_at=timezone.now(),
        worker=f"{socket.gethostname()}",
    )  # fmt: skip
    if not claimed:
        log.info("Deployment %s is already claimed or finished; nothing to do.", deployment_id)
        return
    deployment = Deployment.objects.select_related(
        "service__registry", "environment", "config"
    ).get(pk=deployment_id)
    progress = Progress(
        lambda kind, message, data, share: _event(deployment, kind, message, data, share),
        lambda: Deployment.objects.filter(pk=deployment_id).update(heartbeat_at=timezone.now()),
    )
    try:
        with engine.session(deployment.environment) as session:
            run_strategy(session, deployment, progress)
    except (DeploymentFailed, engine.EngineUnavailable) as exc:
        _finish(deployment, Deployment.Status.FAILED, str(exc))
    except Exception as exc:  # noqa: BLE001 - never leave a deployment running on a bug
        log.exception("Deployment %s crashed", deployment_id)
        _finish(
            deployment, Deployment.Status.FAILED, f"internal error: {exc.__class__.__name__}: {exc}"
        )
    else:
        _finish(deployment, Deployment.Status.SUCCEEDED)


def reap_stale_deployments() -> list[int]:
    """Fail deployments whose worker stopped beating, and pending ones never picked up."""
    now = timezone.now()
    stale = timedelta(seconds=settings.DEPLOYMENT_STALE_AFTER)
    reaped = []
    running = Deployment.objects.filter(
        status=Deployment.Status.RUNNING, heartbeat_at__lt=now - stale
    )
    pending = Deployment.objects.filter(
        status=Deployment.Status.PENDING, created_at__lt=now - stale * 5
    )
    for deployment, reason in [
        *(
            (d, f"its worker stopped reporting for over {stale.seconds} s (crashed or restarted)")
            for d in running
        ),
        *((d, "no worker picked it up (is a Celery worker running?)") for d in pending),
    ]:
        updated = Deployment.objects.filter(pk=deployment.pk, status=deployment.status).update(
            status=Deployment.Status.RUNNING  # keeps the row claimed while we finish it
        )
        if updated:
            cleanup = _clean_up_after(deployment)
            _finish(deployment, Deployment.Status.FAILED, reason + cleanup)
            reaped.append(deployment.pk)
    return reaped


def _clean_up_after(deployment: Deployment) -> str:
    """Remove what a dead deployment started and restart what it stopped, so the last
    successful deployment serves again and nothing is orphaned."""
    last = Deployment.objects.filter(
        service=deployment.service,
        environment=deployment.environment,
        status=Deployment.Status.SUCCEEDED,
    ).first()
    removed = restarted = 0
    try:
        with engine.session(deployment.environment, timeout=30) as session:
            for replica in session.replicas(deployment.service.name):
                if replica.deployment == deployment.pk:
                    session.remove(replica.id)
                    removed += 1
                elif last and replica.deployment == last.pk and replica.state != "running":
                    session.start(replica.id)
                    restarted += 1
    except engine.EngineUnavailable as exc:
        return f"; could not clean up: {exc}"
    return f"; removed {removed} new container(s), restarted {restarted} old one(s)"

"""Running a deployment: claim, strategy, events, finish; and the reaper.

The runner (:func:`run_deployment`) claims a pending deployment atomically, so a
redelivered task finds it already claimed and does nothing;
:func:`reap_stale_deployments` fails deployments whose worker stopped beating, within a
bounded time, and cleans up after them.
"""

from __future__ import annotations

import logging
import socket
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from environments import engine
from environments.deploying import traffic
from environments.deploying.strategies import (
    DeploymentCancelled,
    DeploymentFailed,
    Progress,
    run_strategy,
)
from environments.models import Deployment, DeploymentEvent
from portal.core import audit
from portal.core.events import broadcast_on_commit, deployment_group, notify_changed
from portal.core.sequences import take_next

__all__ = [
    "CANCEL_EVENT",
    "cancel_requested",
    "reap_stale_deployments",
    "record_event",
    "run_deployment",
]

log = logging.getLogger(__name__)


def record_event(
    deployment: Deployment, kind: str, message: str, data: dict, progress: int | None
) -> None:
    """Append the deployment's next event (the number from its counter, which also moves
    its heartbeat and progress and locks its row until the transaction ends: a worker
    and the reaper never take the same number) and push it after commit."""
    changes = {"heartbeat_at": timezone.now()}
    if progress is not None:
        changes["progress"] = progress
    with transaction.atomic(savepoint=False):
        seq = take_next(Deployment, deployment.pk, "last_event_seq", **changes)
        event = DeploymentEvent.objects.create(
            deployment=deployment, seq=seq, kind=kind, message=message, data=data
        )
        broadcast_on_commit(
            deployment_group(deployment.pk),
            {"type": "deployment.event", "event": event.as_message(), "progress": progress},
        )


def _finish(deployment: Deployment, status: str, reason: str = "") -> bool:
    """Finish an active deployment; a finished one never changes outcome (a late worker
    after the reaper, or the reaper after the worker, finishes nothing)."""
    with transaction.atomic():
        finished = Deployment.objects.filter(pk=deployment.pk, status__in=Deployment.ACTIVE).update(
            status=status, reason=reason, finished_at=timezone.now(),
            progress=100 if status == Deployment.Status.SUCCEEDED else F("progress"),
        )  # fmt: skip
        if not finished:
            log.warning(
                "Deployment %s was already finished; %s not recorded.", deployment.pk, status
            )
            return False
        noun = (
            "Deployment"
            if deployment.action == Deployment.Action.DEPLOY
            else deployment.get_action_display()
        )
        record_event(deployment, "done" if status == Deployment.Status.SUCCEEDED else "failed",
               f"{noun} succeeded" if status == Deployment.Status.SUCCEEDED else f"{noun} {status}: {reason}",
               {"status": status}, 100 if status == Deployment.Status.SUCCEEDED else None)  # fmt: skip
        audit.record(
            deployment.actor, f"deployment.{status}", deployment, environment=deployment.environment,
            details={"digest": deployment.digest, "reason": reason},
        )  # fmt: skip
        notify_changed([deployment.environment_id], "deployment")
    return True


CANCEL_EVENT = "cancel"  # the event that asks a running deployment to stop


def cancel_requested(deployment_id: int) -> str | None:
    """The reason someone gave to cancel the deployment, if anyone did."""
    event = (
        DeploymentEvent.objects.filter(deployment_id=deployment_id, kind=CANCEL_EVENT)
        .order_by("seq")
        .first()
    )
    return event.data.get("reason") or event.message if event else None


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
        lambda kind, message, data, share: record_event(deployment, kind, message, data, share),
        lambda: Deployment.objects.filter(pk=deployment_id).update(heartbeat_at=timezone.now()),
        lambda: cancel_requested(deployment_id),
    )
    try:
        with engine.session(deployment.environment) as session:
            run_strategy(session, deployment, progress)
    except DeploymentCancelled as exc:
        _finish(deployment, Deployment.Status.CANCELLED, str(exc))
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
    for deployment, reason, still_stale in [
        *(
            (d, f"its worker stopped reporting for over {stale.seconds} s (crashed or restarted)",
             {"heartbeat_at__lt": now - stale})
            for d in running
        ),
        *((d, "no worker picked it up (is a Celery worker running?)",
           {"created_at__lt": now - stale * 5}) for d in pending),
    ]:  # fmt: skip
        # Claim only what is still stale: a worker that beat since the query keeps it.
        # The claim refreshes the heartbeat so that another reaper does not claim it too.
        updated = Deployment.objects.filter(
            pk=deployment.pk, status=deployment.status, **still_stale
        ).update(status=Deployment.Status.RUNNING, heartbeat_at=timezone.now(), worker="reaper")
        if updated:
            cleanup = _clean_up_after(deployment)
            _finish(deployment, Deployment.Status.FAILED, reason + cleanup)
            reaped.append(deployment.pk)
    return reaped


def _clean_up_after(deployment: Deployment) -> str:
    """Remove what a dead deployment started and restart what it stopped, so the last
    successful deployment serves again and nothing is orphaned."""
    last = Deployment.objects.last_succeeded(deployment.service, deployment.environment)
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
    traffic.release_deployment(deployment)
    return f"; removed {removed} new container(s), restarted {restarted} old one(s)"

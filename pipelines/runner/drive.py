"""Moving a run from step to step, and the reaper.

:func:`advance` is the only code that starts stages: under the run's row lock it looks
at the first step not yet done, starts its pending stages (work stages are queued as
tasks, approvals and confirmations wait for people) and finishes the run when a stage
failed or every step is done. Stages finish through :func:`finish_stage`, which changes
only a stage still active, so a late worker, a cancel and the reaper never overwrite
one another. :func:`reap_stale_stages` fails stages whose worker stopped beating.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from environments import engine
from pipelines.access import reason_in_sight
from pipelines.models import Approval, PipelineRun, StageRun
from pipelines.runner.events import record_event
from portal.core import audit
from portal.core.tasks import dispatch_on_commit, doing_it_here

__all__ = [
    "advance",
    "finish_run",
    "finish_stage",
    "gate_of",
    "reap_stale_stages",
    "started_here",
    "valid_approvals",
]

log = logging.getLogger(__name__)

WORK_KINDS = ("build", "deploy", "test", "promote")
_here = threading.local()


class NextStage:
    """The work stage this thread started and will run next itself (see
    :func:`started_here`): the first one of a step; parallel siblings go to their tasks."""

    def __init__(self):
        self.chosen = False
        self.stage_id: int | None = None

    def take(self) -> int | None:
        stage_id, self.stage_id, self.chosen = self.stage_id, None, False
        return stage_id


@contextmanager
def started_here() -> Iterator[NextStage]:
    """Note the first work stage this thread starts (once committed), so that a worker
    finishing a stage runs the next one itself at once instead of waiting for the queue
    to hand it over. It is queued as a fallback task too
    (:func:`portal.core.tasks.doing_it_here`); a stage runs only once (the claim is
    atomic). Parallel siblings are queued at once, for other workers."""
    _here.next = NextStage()
    try:
        yield _here.next
    finally:
        del _here.next


def valid_approvals(stage: StageRun) -> list[Approval]:
    """Approvals of ``stage`` that still count: given in its current attempt (a retried
    stage asks again), for the run's digest, not expired, one per person (the newest)."""
    now = timezone.now()
    seen, valid = set(), []
    given = stage.approvals.filter(approved=True)
    if stage.started_at is not None:
        given = given.filter(at__gte=stage.started_at)
    for approval in given.select_related("user").order_by("-at"):
        if approval.user_id in seen:
            continue
        seen.add(approval.user_id)
        if approval.digest == stage.run.digest and (
            approval.expires_at is None or approval.expires_at > now
        ):
            valid.append(approval)
    return valid


def gate_of(stage: StageRun) -> StageRun | None:
    """The approval stage a promote follows: the latest earlier approval of
    ``promote_from_environment`` in the promote's environment."""
    return (
        stage.run.stages.filter(
            kind="approval", step__lt=stage.step, environment=stage.environment,
            plan__permission="promote_from_environment",
        )
        .order_by("-step")
        .first()
    )  # fmt: skip


def _needs_confirmation(stage: StageRun) -> bool:
    return stage.kind == "deploy" and stage.environment is not None and stage.environment.protected


def _start(run: PipelineRun, stage: StageRun) -> None:
    """Start one pending stage of the current step."""
    now = timezone.now()
    if stage.kind == "build" and run.digest and run.trigger.get("digest"):
        stage.status, stage.reason, stage.finished_at = StageRun.Status.SKIPPED, "", now
        stage.started_at = now
        stage.save()
        record_event(run.pk, stage.name, "stage", "Skipped: the trigger named the digest",
                     {"status": stage.status})  # fmt: skip
        return
    if stage.kind == "approval" or _needs_confirmation(stage):
        stage.status, stage.started_at = StageRun.Status.WAITING, stage.started_at or now
        stage.save()
        what = "approval" if stage.kind == "approval" else "confirmation to deploy"
        needed = stage.plan.get("min_approvers", 1)
        record_event(
            run.pk, stage.name, "waiting",
            f"Waiting for {needed} {what}{'s' if needed > 1 and stage.kind == 'approval' else ''} "
            f"in {stage.environment.name}",
            {"status": stage.status},
        )  # fmt: skip
        return
    if stage.kind == "promote":
        gate = gate_of(stage)
        approvals = valid_approvals(gate) if gate is not None else []
        if gate is not None and len(approvals) < gate.plan["min_approvers"]:
            # The approval expired (or no longer matches): ask people again, promote nothing.
            gate.status, gate.finished_at = StageRun.Status.WAITING, None
            gate.reason = "The approval expired before the promote: approve again."
            gate.save()
            record_event(run.pk, gate.name, "waiting", gate.reason, {"status": gate.status})
            return
        stage.actor = approvals[0].user if gate else None
    stage.status, stage.started_at, stage.worker = StageRun.Status.RUNNING, now, ""
    stage.heartbeat_at = now
    stage.save()
    record_event(run.pk, stage.name, "stage", f"Started {stage.kind}", {"status": stage.status})
    following = getattr(_here, "next", None)
    if following is None or following.chosen:
        dispatch_on_commit("pipelines.tasks.run_stage", stage.pk)
        return
    following.chosen = True  # this worker runs it next; the task is the fallback
    with doing_it_here():
        dispatch_on_commit("pipelines.tasks.run_stage", stage.pk)
    transaction.on_commit(lambda: setattr(following, "stage_id", stage.pk))


@transaction.atomic
def advance(run_id: int) -> None:
    """Take the run one move forward (idempotent: call it whenever something changed)."""
    run = PipelineRun.objects.select_for_update().filter(pk=run_id).first()
    if run is None or run.status not in PipelineRun.ACTIVE:
        return
    if run.status == PipelineRun.Status.PENDING:
        run.status, run.started_at = PipelineRun.Status.RUNNING, timezone.now()
        run.save(update_fields=["status", "started_at"])
    stages = list(run.stages.select_related("environment").order_by("step", "id"))
    for step in sorted({stage.step for stage in stages}):
        group = [stage for stage in stages if stage.step == step]
        broken = [
            s for s in group if s.status in (StageRun.Status.FAILED, StageRun.Status.CANCELLED)
        ]
        if broken:
            # Parallel stages still working finish first (their results are kept and the
            # run is not "failed" while a stage of it still runs); waiting ones are ended.
            if not any(s.status == StageRun.Status.RUNNING for s in group):
                finish_run(run, PipelineRun.Status.FAILED, f"{broken[0].name}: {broken[0].reason}")
            return
        if all(s.status in (StageRun.Status.SUCCEEDED, StageRun.Status.SKIPPED) for s in group):
            continue
        # Only the current step moves; an earlier step reopened (an expired approval)
        # is the current step again.
        for stage in group:
            if stage.status == StageRun.Status.PENDING:
                _start(run, stage)
        statuses = {s.status for s in run.stages.filter(step__lte=step)}
        waiting = StageRun.Status.RUNNING not in statuses and StageRun.Status.WAITING in statuses
        status = PipelineRun.Status.WAITING if waiting else PipelineRun.Status.RUNNING
        if status != run.status:
            run.status = status
            run.save(update_fields=["status"])
            record_event(run.pk, "", "run", f"Run {run.get_status_display().lower()}",
                         {"status": run.status})  # fmt: skip
        return
    finish_run(run, PipelineRun.Status.SUCCEEDED)


def finish_run(run: PipelineRun, status: str, reason: str = "") -> bool:
    """Finish an active run once; stages not started are skipped, waiting ones cancelled."""
    with transaction.atomic():
        done = PipelineRun.objects.filter(pk=run.pk, status__in=PipelineRun.ACTIVE).update(
            status=status, reason=reason[:4000], finished_at=timezone.now()
        )
        if not done:
            return False
        now = timezone.now()
        run.stages.filter(status=StageRun.Status.PENDING).update(
            status=StageRun.Status.SKIPPED, reason=f"the run {status}"
        )
        run.stages.filter(status=StageRun.Status.WAITING).update(
            status=StageRun.Status.CANCELLED, reason=f"the run {status}", finished_at=now
        )
        if status == PipelineRun.Status.CANCELLED:
            run.stages.filter(status=StageRun.Status.RUNNING).update(
                status=StageRun.Status.CANCELLED, reason="the run was cancelled", finished_at=now
            )
        message = f"Run {status}" + (f": {reason}" if reason else "")
        record_event(run.pk, "", "run", message, {"status": status, "reason": reason})
        # The event is read by whoever views the pipeline's home: what happened in a stage
        # elsewhere stays on that stage, as the run's reason shows it to them.
        elsewhere = set(
            run.stages.exclude(environment=run.pipeline.environment_id).values_list(
                "name", flat=True
            )
        )
        audit.record(
            run.actor, f"pipeline_run.{status}", run, environment=run.pipeline.environment,
            details={"digest": run.digest, "reason": reason_in_sight(
                reason, elsewhere, "failed in another environment (see the run)"
            )},
        )  # fmt: skip
    return True


def finish_stage(
    stage: StageRun, status: str, reason: str = "", results: dict | None = None
) -> bool:
    """Finish a stage that is still running or waiting, then move the run on."""
    with transaction.atomic():
        changes = {"status": status, "reason": reason[:4000], "finished_at": timezone.now()}
        if results is not None:
            changes["results"] = results
        done = StageRun.objects.filter(pk=stage.pk, status__in=StageRun.ACTIVE).update(**changes)
        if not done:
            log.info("Stage %s was already finished; %s not recorded.", stage.pk, status)
            return False
        text = f"{stage.kind.capitalize()} {status}" + (f": {reason}" if reason else "")
        record_event(stage.run_id, stage.name, "stage", text,
                     {"status": status, "reason": reason, "results": results or {}})  # fmt: skip
        transaction.on_commit(lambda: _hand_off(stage.run_id))
    return True


def _hand_off(run_id: int) -> None:
    """Start what comes next at once, in this thread (no queue hop between stages); should
    that fail, the task does it (``advance`` is idempotent)."""
    try:
        advance(run_id)
    except Exception:  # noqa: BLE001 - the queued task retries what failed here
        log.exception("Moving run %s on failed here; queued instead", run_id)
        dispatch_on_commit("pipelines.tasks.advance_run", run_id)


def _clean_up_after(stage: StageRun) -> str:
    """Remove the test container a dead worker left behind (a deployment's own reaper
    cleans up after a deploy stage)."""
    if stage.kind != "test" or stage.environment is None:
        return ""
    labels = [f"berth.pipeline-run={stage.run_id}", f"berth.stage={stage.name}"]
    try:
        with engine.open_client(stage.environment, timeout=30) as client:
            left = client.containers.list(all=True, filters={"label": labels})
            for container in left:
                container.remove(force=True)
    except engine.EngineUnavailable as exc:
        return f"; could not remove its test container: {exc}"
    return f"; removed {len(left)} test container(s)"


def reap_stale_stages() -> list[int]:
    """Fail running stages whose worker stopped beating (killed, restarted), so no run is
    left running; the run then fails at that stage and can be retried from it."""
    stale = timedelta(seconds=settings.DEPLOYMENT_STALE_AFTER)
    reaped = []
    for stage in StageRun.objects.filter(
        status=StageRun.Status.RUNNING, heartbeat_at__lt=timezone.now() - stale
    ):
        # Claim only what is still stale, refreshing the heartbeat, so that a second
        # reaper running at the same time does not clean up the same stage too.
        claimed = StageRun.objects.filter(
            pk=stage.pk, status=StageRun.Status.RUNNING, heartbeat_at__lt=timezone.now() - stale
        ).update(heartbeat_at=timezone.now(), worker="reaper")
        if not claimed:
            continue
        reason = (
            f"its worker stopped reporting for over {int(stale.total_seconds())} s "
            "(crashed or restarted); retry the stage to run it again"
        )
        if finish_stage(stage, StageRun.Status.FAILED, reason + _clean_up_after(stage)):
            reaped.append(stage.pk)
    return reaped

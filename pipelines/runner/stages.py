"""The work stages: build, deploy, test and promote, each run by one task.

Every stage acts as a person and through the same domain function as the browser:
build, test and unprotected deploys as the author of the run's revision (who had to hold
``deploy_to_environment`` there to save it, and still must); a protected deploy as the
person who confirmed it; a promote as the person whose approval let it through. The
stage's plan is the one recorded when the run started, and the digest the run's.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import tempfile
import threading
import time
from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.db import close_old_connections, connection
from django.utils import timezone

from environments import access, engine
from environments.actions import cancel_deployment, deploy
from environments.deploying.runner import run_deployment
from environments.models import Deployment
from environments.roles import DEPLOY
from pipelines.models import PipelineRun, StageRun
from pipelines.runner.build import BuildFailed, build_and_push, checkout
from pipelines.runner.drive import advance, finish_stage, started_here
from pipelines.runner.events import LogWriter, record_event
from pipelines.runner.testing import run_test_container
from portal.core.errors import DomainError
from portal.core.tasks import doing_it_here
from registry.models import Promotion
from registry.promotion import promote

__all__ = ["StageFailed", "advance_here", "run_stage"]

log = logging.getLogger(__name__)
BEAT_EVERY = 2.0
DEPLOY_WAIT = 1800  # seconds a deploy stage waits on its Deployment record


class StageFailed(Exception):
    """The stage failed; ``str()`` is the reason shown on it."""


class _Heartbeat:
    """Moves the stage's heartbeat while it works, from a thread, and notices a cancel."""

    def __init__(self, stage: StageRun):
        self.stage_id = stage.pk
        self.stop = threading.Event()
        self.status = stage.status

    def loop(self) -> None:
        try:
            while not self.stop.wait(BEAT_EVERY):
                StageRun.objects.filter(pk=self.stage_id, status=StageRun.Status.RUNNING).update(
                    heartbeat_at=timezone.now()
                )
                self.status = (
                    StageRun.objects.filter(pk=self.stage_id)
                    .values_list("status", flat=True)
                    .first()
                )
        finally:
            connection.close()

    def cancelled(self) -> bool:
        return self.status != StageRun.Status.RUNNING


@contextmanager
def _beating(stage: StageRun):
    beat = _Heartbeat(stage)
    thread = threading.Thread(target=beat.loop, name=f"stage-{stage.pk}-heartbeat", daemon=True)
    thread.start()
    try:
        yield beat
    finally:
        beat.stop.set()
        thread.join(timeout=10)


def advance_here(run_id: int) -> None:
    """Move a run on (idempotent); a work stage this starts runs here at once, as after
    a stage (see :func:`run_stage`): its queued task is then only the fallback."""
    with started_here() as following:
        advance(run_id)
    if (stage_id := following.take()) is not None:
        run_stage(stage_id)


def run_stage(stage_id: int) -> None:
    """Claim and run one work stage, then the next work stage it started, and so on (its
    fallback task then finds it claimed). Parallel siblings are left to their tasks."""
    with started_here() as following:
        _run_one(stage_id)
        while (next_id := following.take()) is not None:
            _run_one(next_id)


def _run_one(stage_id: int) -> None:
    """Claim and run one work stage. A redelivered task finds it claimed and does nothing."""
    claimed = StageRun.objects.filter(
        pk=stage_id, status=StageRun.Status.RUNNING, worker=""
    ).update(worker=socket.gethostname(), heartbeat_at=timezone.now())
    if not claimed:
        log.info("Stage %s is already claimed or finished; nothing to do.", stage_id)
        return
    stage = StageRun.objects.select_related(
        "run__pipeline__service__registry", "run__revision__created_by", "environment", "actor"
    ).get(pk=stage_id)
    writer = LogWriter(stage)
    try:
        with _beating(stage) as beat:
            results = EXECUTORS[stage.kind](stage, writer, beat)
    except (StageFailed, BuildFailed, engine.EngineUnavailable) as exc:
        writer.flush()
        finish_stage(stage, StageRun.Status.FAILED, str(exc))
    except ValidationError as exc:
        writer.flush()
        finish_stage(stage, StageRun.Status.FAILED, " ".join(exc.messages))
    except DomainError as exc:
        writer.flush()
        finish_stage(stage, StageRun.Status.FAILED, str(exc))
    except Exception as exc:  # noqa: BLE001 - never leave a stage running on a bug
        log.exception("Stage %s crashed", stage_id)
        writer.flush()
        finish_stage(
            stage, StageRun.Status.FAILED, f"internal error: {exc.__class__.__name__}: {exc}"
        )
    else:
        writer.flush()
        finish_stage(stage, StageRun.Status.SUCCEEDED, "", results)
    finally:
        close_old_connections()


def _author(stage: StageRun):
    author = stage.run.revision.created_by
    if author is None:
        raise StageFailed("the author of this pipeline revision no longer exists; save a new one.")
    access.require(author, stage.environment, DEPLOY)
    return author


def _build(stage: StageRun, writer: LogWriter, beat) -> dict:
    run: PipelineRun = stage.run
    _author(stage)
    plan = stage.plan
    service = run.pipeline.service
    ref = run.trigger.get("ref") or plan["git"]["ref"]
    tag = plan.get("tag") or f"pipeline-{run.pk}"
    with tempfile.TemporaryDirectory(prefix="berth-build-") as directory:
        writer.line(f"$ git clone {plan['git']['url']} ({ref})")
        commit = checkout(
            plan["git"]["url"], ref, f"{directory}/src", timeout=min(300, plan["timeout"])
        )
        writer.line(f"checked out {commit}")
        digest, size = build_and_push(
            stage.environment, f"{directory}/src", dockerfile=plan["dockerfile"],
            build_args=plan["build_args"], repository=f"{service.registry.host}/{service.repository}",
            tag=tag, log=writer.write, timeout=plan["timeout"],
        )  # fmt: skip
    writer.line(
        f"pushed {service.registry.host}/{service.repository}:{tag} = {digest} ({size} bytes)"
    )
    PipelineRun.objects.filter(pk=run.pk).update(digest=digest)
    record_event(run.pk, stage.name, "digest", f"Built {digest}", {"digest": digest})
    return {"commit": commit, "ref": ref, "digest": digest, "size": size, "tag": tag}


def _wait_deployment(deployment: Deployment, beat) -> Deployment:
    deadline = time.monotonic() + DEPLOY_WAIT
    while time.monotonic() < deadline:
        deployment.refresh_from_db()
        if deployment.status not in Deployment.ACTIVE:
            return deployment
        if beat.cancelled():
            raise StageFailed(f"cancelled while deployment #{deployment.pk} runs")
        time.sleep(0.2)
    raise StageFailed(f"deployment #{deployment.pk} did not finish within {DEPLOY_WAIT} s")


def _deploy(stage: StageRun, writer: LogWriter, beat) -> dict:
    run = stage.run
    if not run.digest:
        raise StageFailed("the run has no digest to deploy: build or name one first.")
    environment = stage.environment
    user = stage.actor if environment.protected else _author(stage)
    if user is None:
        raise StageFailed(f"{environment.name} is protected and nobody confirmed the deployment.")
    with doing_it_here():  # run below, in this thread; its queued task is the fallback
        deployment = deploy(
            run.pipeline.service, environment, run.digest, user=user, confirm=environment.protected
        )
    StageRun.objects.filter(pk=stage.pk).update(results={"deployment": deployment.pk})
    writer.line(f"deployment #{deployment.pk} of {run.digest} to {environment.name} as {user}")
    if StageRun.objects.filter(pk=stage.pk, status=StageRun.Status.RUNNING).exists():
        # Run it here: the claim is atomic, so the queued task finds it claimed; if another
        # worker claimed it first, this waits on the record like anyone else.
        run_deployment(deployment.pk)
    else:  # the run was cancelled while the deployment was being recorded
        run.refresh_from_db()
        with contextlib.suppress(DomainError):
            cancel_deployment(deployment, user=user, reason=f"pipeline run {run.reason}")
    deployment = _wait_deployment(deployment, beat)
    messages = deployment.events.order_by("seq").values_list("message", flat=True)
    writer.write("".join(f"[deployment] {message.rstrip()}\n" for message in messages))
    if deployment.status == Deployment.Status.CANCELLED:
        raise StageFailed(f"deployment #{deployment.pk} cancelled: {deployment.reason}")
    if deployment.status != Deployment.Status.SUCCEEDED:
        raise StageFailed(f"deployment #{deployment.pk} {deployment.status}: {deployment.reason}")
    return {"deployment": deployment.pk, "strategy": deployment.strategy}


def _test(stage: StageRun, writer: LogWriter, beat) -> dict:
    run = stage.run
    _author(stage)
    plan = stage.plan
    service = run.pipeline.service
    image = plan["image"]
    if image == "$image":
        if not run.digest:
            raise StageFailed("the run has no digest to test.")
        image = service.image(run.digest)
    env = {
        **plan["env"],
        "BERTH_IMAGE": service.image(run.digest) if run.digest else "",
        "BERTH_DIGEST": run.digest,
        "BERTH_RUN": str(run.pk),
        "BERTH_ENVIRONMENT": stage.environment.slug,
    }
    writer.line(f"$ {image} {' '.join(plan['command'])}")
    writer.flush()
    outcome = run_test_container(
        stage.environment, image=image, command=plan["command"], env=env,
        labels={engine.LABEL_ENVIRONMENT: stage.environment.slug,
                "berth.pipeline-run": str(run.pk), "berth.stage": stage.name},
        timeout=plan["timeout"], junit=plan.get("junit"), log=writer.write,
        cancelled=beat.cancelled,
    )  # fmt: skip
    results = {"exit_code": outcome.exit_code}
    if outcome.report is not None:
        results["junit"] = outcome.report
    StageRun.objects.filter(pk=stage.pk).update(results=results)
    if outcome.timed_out:
        raise StageFailed(
            f"the test container ran longer than {plan['timeout']} s and was stopped."
        )
    if outcome.note == "cancelled":
        raise StageFailed("cancelled")
    if outcome.exit_code != 0:
        report = outcome.report or {}
        failed = ""
        if report.get("failed"):
            failed = f"; {len(report['failed'])} failed: {', '.join(report['failed'][:5])}"
        raise StageFailed(f"the test container exited with code {outcome.exit_code}{failed}")
    return results


def _promote(stage: StageRun, writer: LogWriter, beat) -> dict:
    run = stage.run
    if stage.actor is None:
        raise StageFailed("nobody approved this promote.")
    service = run.pipeline.service
    promotion = promote(
        stage.actor, source=stage.environment, repository=service.repository, digest=run.digest,
        version=stage.plan.get("version", ""), note=f"pipeline run #{run.pk}",
    )  # fmt: skip
    deadline = time.monotonic() + DEPLOY_WAIT
    while promotion.status == Promotion.Status.RUNNING and time.monotonic() < deadline:
        time.sleep(0.2)
        promotion.refresh_from_db()
    writer.write("".join(f"[promotion] {step['message'].rstrip()}\n" for step in promotion.log))
    results = {"promotion": promotion.pk, "tags": promotion.tags, "by": stage.actor.username}
    if promotion.status != Promotion.Status.SUCCEEDED:
        raise StageFailed(f"promotion #{promotion.pk} {promotion.status}: {promotion.error}")
    return results


EXECUTORS = {"build": _build, "deploy": _deploy, "test": _test, "promote": _promote}

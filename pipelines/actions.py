"""Every state change of pipelines, as verb-first functions: definitions and their
revisions, starting runs (button, signed webhook, registry push), approvals and
confirmations, cancel, retry and re-run. Each checks permission through
:mod:`environments.access`, runs in a transaction, writes the audit log and queues its
work after commit."""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import hashlib
import hmac
import re
import secrets
import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from environments import access
from environments.actions import cancel_deployment
from environments.models import Deployment, Environment, Service
from environments.roles import DEPLOY, VIEW
from pipelines import definition
from pipelines.models import (
    Approval,
    Pipeline,
    PipelineRevision,
    PipelineRun,
    StageRun,
    WebhookDelivery,
)
from pipelines.runner.drive import finish_run, finish_stage, valid_approvals
from pipelines.runner.events import record_event
from portal.core import audit
from portal.core.errors import Conflict, Forbidden, NotFound
from portal.core.tasks import dispatch_on_commit
from registry.client import validate_digest

__all__ = [
    "WEBHOOK_WINDOW",
    "WebhookRefused",
    "cancel_run",
    "create_pipeline",
    "decide",
    "diff_revisions",
    "on_registry_push",
    "rerun",
    "retry_stage",
    "rotate_webhook_secret",
    "save_revision",
    "start_run",
    "test_results_of",
    "trigger_webhook",
    "waiting_for",
]

BUILD_TAG = re.compile(r"^pipeline-\d+$")  # what a build stage tags when no tag is given
WEBHOOK_WINDOW = 300  # seconds a signed webhook call stays valid


class WebhookRefused(Exception):
    """A webhook call that is not signed, stale, replayed or for no pipeline (401)."""


# -- definitions --------------------------------------------------------------------------


def _stages_in(document: dict):
    """Each stage of ``document`` with its environment and whether it acts as the
    revision's author there (build, test, an unprotected deploy)."""
    by_slug = {e.slug: e for e in Environment.objects.all()}
    for step in definition.steps(document):
        for stage in step:
            environment = by_slug[stage["environment"]]
            acts_as_author = stage["kind"] in ("build", "test") or (
                stage["kind"] == "deploy" and not environment.protected
            )
            yield stage, environment, acts_as_author


def _check_author(user, document: dict) -> Environment:
    """The author must hold what the stages that act as them need; returns the home."""
    home = None
    for _stage, environment, acts_as_author in _stages_in(document):
        home = home or environment
        access.require(user, environment, DEPLOY if acts_as_author else VIEW)
    return home


def _require_may_run(user, pipeline: Pipeline, document: dict) -> None:
    """Starting a run (re-running, retrying one, or taking the webhook's secret) makes
    Berth act as the revision's author where its stages build, test or deploy: that
    needs ``deploy_to_environment`` there, as authoring them did, so that nobody reaches
    through someone else's pipeline an environment where they may not deploy."""
    access.require(user, pipeline.environment, DEPLOY)
    for stage, environment, acts_as_author in _stages_in(document):
        if acts_as_author and not access.can(user, environment, DEPLOY):
            where = (
                environment.name
                if access.can(user, environment, VIEW)
                else "an environment you cannot see"
            )
            raise Forbidden(
                f"Stage {stage['name']} {stage['kind']}s in {where}, where you may not deploy: "
                "someone who may deploy wherever this pipeline acts must start it."
            )


def _parse(user, text: str) -> dict:
    """The definition, naming environments among those ``user`` can see: one out of
    sight is refused as one that does not exist (its name is not listed either)."""
    seen = access.visible_environments(user).values_list("slug", flat=True)
    return definition.parse(text, set(seen))


def create_pipeline(user, service: Service, name: str, text: str, comment: str = ""):
    """A new pipeline of ``service`` with its first revision; returns (pipeline, the
    webhook secret, shown this once)."""
    document = _parse(user, text)
    home = _check_author(user, document)
    access.require(user, home, DEPLOY)
    secret = secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            pipeline = Pipeline(service=service, name=name, environment=home, created_by=user)
            pipeline.webhook_secret = secret
            pipeline.webhook_secret_set_at = timezone.now()
            pipeline.webhook_secret_set_by = user
            pipeline.save()
            PipelineRevision.objects.create(
                pipeline=pipeline, revision=1, text=text, document=document, comment=comment,
                created_by=user,
            )  # fmt: skip
            audit.record(user, "pipeline.create", pipeline, environment=home,
                         details={"service": service.name, "name": name})  # fmt: skip
    except IntegrityError:
        raise ValidationError({"name": f"{service} already has a pipeline named {name}."}) from None
    return pipeline, secret


def save_revision(user, pipeline: Pipeline, text: str, comment: str = "") -> PipelineRevision:
    """A new revision of ``pipeline``'s definition (the same text gives back the last)."""
    access.require(user, pipeline.environment, DEPLOY)
    document = _parse(user, text)
    home = _check_author(user, document)
    with transaction.atomic():
        Pipeline.objects.select_for_update().filter(pk=pipeline.pk).first()
        previous = pipeline.current_revision()
        if previous and previous.document == document and previous.text == text:
            return previous
        revision = PipelineRevision.objects.create(
            pipeline=pipeline, revision=(previous.revision + 1) if previous else 1, text=text,
            document=document, comment=comment, created_by=user,
        )  # fmt: skip
        if home != pipeline.environment:
            access.require(user, home, DEPLOY)
            pipeline.environment = home
            pipeline.save(update_fields=["environment"])
        audit.record(user, "pipeline.revision", revision, environment=home,
                     details={"revision": revision.revision, "comment": comment})  # fmt: skip
    return revision


def diff_revisions(older: PipelineRevision | None, newer: PipelineRevision) -> str:
    """A unified diff of two revisions' YAML."""
    return "".join(
        difflib.unified_diff(
            (older.text if older else "").splitlines(keepends=True),
            newer.text.splitlines(keepends=True),
            f"r{older.revision}" if older else "empty",
            f"r{newer.revision}",
        )
    )


def with_diffs(
    pipeline: Pipeline, revisions: list[PipelineRevision]
) -> list[tuple[PipelineRevision, str]]:
    """``revisions`` (consecutive, newest first), each with its diff against the one
    before it: one query for the revision before the oldest, whatever the count."""
    older = (
        pipeline.revisions.filter(revision__lt=revisions[-1].revision).order_by("-revision").first()
        if revisions
        else None
    )
    chain = [*revisions, older]
    return [
        (revision, diff_revisions(chain[i + 1], revision)) for i, revision in enumerate(revisions)
    ]


def rotate_webhook_secret(user, pipeline: Pipeline) -> str:
    """A new webhook secret (the old one stops working at once), returned this once. Its
    holder starts runs: rotating needs what starting one does."""
    _require_may_run(user, pipeline, pipeline.current_revision().document)
    secret = secrets.token_urlsafe(32)
    pipeline.webhook_secret = secret
    pipeline.webhook_secret_set_at = timezone.now()
    pipeline.webhook_secret_set_by = user
    pipeline.save(
        update_fields=["webhook_secret_encrypted", "webhook_secret_set_at", "webhook_secret_set_by"]
    )
    audit.record(user, "pipeline.webhook_secret", pipeline, environment=pipeline.environment)
    return secret


# -- runs ---------------------------------------------------------------------------------


def _create_run(pipeline: Pipeline, revision: PipelineRevision, *, user, trigger: dict,
                digest: str = "", rerun_of: PipelineRun | None = None) -> PipelineRun:  # fmt: skip
    document = revision.document
    if digest:
        try:
            validate_digest(digest)
        except ValueError as exc:
            raise ValidationError({"digest": str(exc)}) from None
    if trigger.get("ref") and (problem := definition.git_ref_problem(trigger["ref"])):
        raise ValidationError({"ref": problem})
    has_build = any(s["kind"] == "build" for step in document["steps"] for s in step)
    if not digest and not has_build:
        raise ValidationError({"digest": "This pipeline builds nothing: name the digest to run."})
    by_slug = {e.slug: e for e in Environment.objects.all()}
    with transaction.atomic():
        run = PipelineRun.objects.create(
            pipeline=pipeline, revision=revision, digest=digest, trigger=trigger, actor=user,
            rerun_of=rerun_of,
        )  # fmt: skip
        StageRun.objects.bulk_create(
            StageRun(
                run=run, step=index, name=stage["name"], kind=stage["kind"], plan=stage,
                environment=by_slug.get(stage["environment"]),
            )
            for index, step in enumerate(document["steps"])
            for stage in step
        )  # fmt: skip
        record_event(run.pk, "", "run", f"Queued ({trigger.get('kind', 'button')})",
                     {"status": run.status, "trigger": trigger})  # fmt: skip
        audit.record(user, "pipeline_run.create", run, environment=pipeline.environment,
                     details={"revision": revision.revision, "trigger": trigger, "digest": digest})  # fmt: skip
        dispatch_on_commit("pipelines.tasks.advance_run", run.pk)
    return run


def start_run(pipeline: Pipeline, *, user, digest: str = "", ref: str = "") -> PipelineRun:
    """Start the pipeline's current revision (the button). Needs
    ``deploy_to_environment`` in its home environment and wherever its stages act as
    the revision's author."""
    revision = pipeline.current_revision()
    _require_may_run(user, pipeline, revision.document)
    trigger = {"kind": "button", "by": user.username}
    if digest:
        trigger["digest"] = digest
    if ref:
        trigger["ref"] = ref
    return _create_run(pipeline, revision, user=user, trigger=trigger, digest=digest)


def _signature(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def trigger_webhook(
    pipeline_id, timestamp: str, signature: str, body: bytes, payload
) -> PipelineRun:
    """A run from a CI webhook: ``signature`` is ``sha256=<hex>`` of HMAC-SHA256 over
    ``timestamp + "." + body`` with the pipeline's secret; older than five minutes,
    replayed or unsigned is refused with nothing recorded."""
    pipeline = (
        Pipeline.objects.filter(pk=pipeline_id).select_related("environment").first()
        if str(pipeline_id).isdigit()
        else None
    )
    if pipeline is None or not pipeline.webhook_secret:
        raise WebhookRefused("Unknown pipeline or bad signature.")
    try:
        stamp = int(timestamp)
    except (TypeError, ValueError):
        raise WebhookRefused("Missing or malformed timestamp header.") from None
    if abs(time.time() - stamp) > WEBHOOK_WINDOW:
        raise WebhookRefused("The signature is older than five minutes (or from the future).")
    given = (signature or "").removeprefix("sha256=")
    expected = _signature(pipeline.webhook_secret, str(timestamp), body)
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise WebhookRefused("Unknown pipeline or bad signature.")
    if not isinstance(payload, dict):
        raise ValidationError("The body is a JSON object with digest or ref.")
    digest, ref = payload.get("digest") or "", payload.get("ref") or ""
    if not isinstance(digest, str) or not isinstance(ref, str):
        raise ValidationError("digest and ref are strings.")
    pusher = payload.get("user")
    pushed_by = (
        get_user_model().objects.filter(username=pusher).first()
        if isinstance(pusher, str)
        else None
    )
    trigger = {"kind": "webhook", "digest": digest, "ref": ref[:200]}
    if pipeline.webhook_secret_set_by_id:
        trigger["secret_set_by_id"] = pipeline.webhook_secret_set_by_id
    if pushed_by is not None:
        trigger |= {"pushed_by": pushed_by.username, "pushed_by_id": pushed_by.pk}
    try:
        with transaction.atomic():
            WebhookDelivery.objects.filter(
                received_at__lt=timezone.now() - timedelta(seconds=2 * WEBHOOK_WINDOW)
            ).delete()
            WebhookDelivery.objects.create(pipeline=pipeline, signature=expected, timestamp=stamp)
            return _create_run(
                pipeline, pipeline.current_revision(), user=None, trigger=trigger, digest=digest
            )
    except IntegrityError:
        raise WebhookRefused("This signed call was already used (a replay).") from None


def on_registry_push(
    registry_id: int, repository: str, tag: str, digest: str, pusher: dict | None = None
) -> list[int]:
    """Runs of every pipeline whose service is ``repository`` in that registry and whose
    registry_push trigger matches ``tag``. The run records the tag, the digest and who
    pushed (the registry's user, address and client); a registry user who is also a Berth
    user of that name counts as the run's starter (who may not approve it)."""
    pusher = pusher or {}
    started = []
    for pipeline in Pipeline.objects.filter(
        service__registry_id=registry_id, service__repository=repository
    ).select_related("environment"):
        revision = pipeline.current_revision()
        pattern = ((revision.document.get("triggers") or {}).get("registry_push") or {}).get("tag")
        if BUILD_TAG.fullmatch(tag):
            continue  # a pipeline's own build: never a trigger, or runs would start runs
        if revision and pattern and fnmatch.fnmatchcase(tag, pattern):
            trigger = {"kind": "registry_push", "tag": tag, "digest": digest}
            trigger["pushed_by"] = pusher.get("user") or "anonymous"
            for key in ("addr", "useragent"):
                if pusher.get(key):
                    trigger[f"push_{key}"] = pusher[key]
            if pusher.get("user"):
                user = get_user_model().objects.filter(username=pusher["user"]).first()
                if user is not None:
                    trigger["pushed_by_id"] = user.pk
            started.append(
                _create_run(pipeline, revision, user=None, trigger=trigger, digest=digest).pk
            )
    return started


def _require_starter(user, run: PipelineRun) -> None:
    access.require(user, run.pipeline.environment, DEPLOY)


def cancel_run(run: PipelineRun, *, user) -> PipelineRun:
    """End an active run: stages not started are skipped, waiting ones cancelled, and a
    deployment a deploy stage is running is cancelled through the deployment domain (it
    stops at its next checkpoint and puts back what it changed), which needs
    ``deploy_to_environment`` where it runs: otherwise nothing is cancelled."""
    _require_starter(user, run)
    if run.status not in PipelineRun.ACTIVE:
        raise Conflict(f"Run #{run.pk} already {run.status}.")
    reason = f"pipeline run cancelled by {user.username}"
    deployments = []
    for stage in run.stages.filter(kind="deploy", status=StageRun.Status.RUNNING):
        found = Deployment.objects.filter(
            pk=(stage.results or {}).get("deployment"), status__in=Deployment.ACTIVE
        ).first()
        if found is not None:
            if not access.can(user, found.environment, DEPLOY):  # before anything changes
                raise Forbidden(
                    f"Stage {stage.name} is deploying where you may not deploy: someone who "
                    "may deploy there must cancel this run."
                )
            deployments.append(found)
    for deployment in deployments:
        with contextlib.suppress(Conflict):  # it finished meanwhile
            cancel_deployment(deployment, user=user, reason=reason)
    finish_run(run, PipelineRun.Status.CANCELLED, f"cancelled by {user.username}")
    audit.record(user, "pipeline_run.cancel", run, environment=run.pipeline.environment)
    run.refresh_from_db()
    return run


def retry_stage(run: PipelineRun, stage_name: str, *, user) -> PipelineRun:
    """Run a failed stage again with the plan and digest the run recorded; the stages
    after it run again as they come."""
    _require_may_run(user, run.pipeline, run.revision.document)
    stage = run.stages.filter(name=stage_name).first()
    if stage is None:
        raise ValidationError({"stage": f"Run #{run.pk} has no stage {stage_name!r}."})
    with transaction.atomic():
        locked = PipelineRun.objects.select_for_update().get(pk=run.pk)
        if locked.status != PipelineRun.Status.FAILED or stage.status not in (
            StageRun.Status.FAILED, StageRun.Status.CANCELLED,
        ):  # fmt: skip
            raise Conflict(
                f"Only a failed stage of a failed run is retried; {stage.name} is {stage.status}."
            )
        if _rejected(stage):
            raise Conflict(
                f"{stage.name} was rejected, and a rejection ends the run: re-run it to ask again "
                "with a new run."
            )
        StageRun.objects.filter(pk=stage.pk).update(
            status=StageRun.Status.PENDING, reason="", attempt=stage.attempt + 1, worker="",
            started_at=None, finished_at=None, log=stage.log + f"\n--- attempt {stage.attempt + 1} ---\n",
        )  # fmt: skip
        run.stages.filter(step__gte=stage.step).exclude(pk=stage.pk).filter(
            status__in=(StageRun.Status.SKIPPED, StageRun.Status.CANCELLED)
        ).update(status=StageRun.Status.PENDING, reason="", finished_at=None)
        PipelineRun.objects.filter(pk=run.pk).update(
            status=PipelineRun.Status.RUNNING, reason="", finished_at=None
        )
        # The attempt's marker reaches live viewers' log panes too, not only the stage row.
        record_event(run.pk, stage.name, "log", f"\n--- attempt {stage.attempt + 1} ---\n")
        record_event(run.pk, stage.name, "run", f"Retry of {stage.name} by {user.username}",
                     {"status": "running"})  # fmt: skip
        audit.record(user, "pipeline_run.retry", run, environment=run.pipeline.environment,
                     details={"stage": stage.name, "digest": run.digest})  # fmt: skip
        dispatch_on_commit("pipelines.tasks.advance_run", run.pk)
    run.refresh_from_db()
    return run


def _rejected(stage: StageRun) -> bool:
    """Whether ``stage`` ended with a person's rejection (in its last attempt)."""
    if stage.kind not in ("approval", "deploy") or stage.started_at is None:
        return False
    last = stage.approvals.filter(at__gte=stage.started_at).order_by("-at", "-pk").first()
    return last is not None and not last.approved


def rerun(run: PipelineRun, *, user) -> PipelineRun:
    """A new run of the same revision from the same trigger."""
    _require_may_run(user, run.pipeline, run.revision.document)
    trigger = {**run.trigger, "rerun_of": run.pk, "rerun_by": user.username}
    digest = run.trigger.get("digest", "") if run.trigger.get("digest") else ""
    return _create_run(run.pipeline, run.revision, user=user, trigger=trigger, digest=digest,
                       rerun_of=run)  # fmt: skip


# -- approvals ----------------------------------------------------------------------------


def test_results_of(run: PipelineRun) -> dict:
    """What the tests of ``run`` said, by stage, as an approval records it."""
    return {
        stage.name: {"status": stage.status, **stage.results}
        for stage in run.stages.filter(kind="test")
    }


def _permission(stage: StageRun) -> str:
    return stage.plan.get("permission", DEPLOY) if stage.kind == "approval" else DEPLOY


def decide(run: PipelineRun, stage_name: str, *, user, approved: bool, note: str = "") -> StageRun:
    """Approve or reject a waiting approval (or a protected deploy's confirmation).

    Needs the stage's permission in its environment (someone who cannot view it gets
    NotFound, as for a missing stage); whoever started the run may not decide unless the
    pipeline allows it; one rejection ends the run; each person counts once."""
    stage = run.stages.select_related("environment", "run").filter(name=stage_name).first()
    if stage is None or stage.kind not in ("approval", "deploy"):
        raise NotFound("No such approval in this run.")
    access.require(user, stage.environment, _permission(stage))
    allow_self = run.revision.document.get("allow_self_approval", False)
    if user.pk in run.starter_ids and not allow_self:
        raise Forbidden(
            "You started this run: someone else must approve it "
            "(the pipeline does not allow self-approval)."
        )
    with transaction.atomic():
        stage = (
            # Only the stage row is locked: its environment is a nullable (outer) join,
            # which PostgreSQL cannot lock.
            StageRun.objects.select_for_update(of=("self",))
            .select_related("run", "environment")
            .get(pk=stage.pk)
        )
        if stage.status != StageRun.Status.WAITING:
            raise Conflict(f"{stage.name} is not waiting for a decision (it is {stage.status}).")
        if approved and any(a.user_id == user.pk for a in valid_approvals(stage)):
            raise Conflict(f"You already approved {stage.name}; another person must approve too.")
        expires = stage.plan.get("expires_after")
        Approval.objects.create(
            stage=stage, user=user, approved=approved, note=note[:2000], digest=stage.run.digest,
            test_results=test_results_of(stage.run),
            expires_at=timezone.now() + timedelta(seconds=expires) if expires else None,
        )  # fmt: skip
        verb = "approved" if approved else "rejected"
        record_event(run.pk, stage.name, "approval", f"{verb.capitalize()} by {user.username}"
                     + (f": {note}" if note else ""),
                     {"user": user.username, "approved": approved, "digest": stage.run.digest})  # fmt: skip
        audit.record(user, f"pipeline_approval.{verb}", stage.run, environment=stage.environment,
                     details={"stage": stage.name, "digest": stage.run.digest, "note": note})  # fmt: skip
        if not approved:
            finish_stage(
                stage,
                StageRun.Status.FAILED,
                f"rejected by {user.username}" + (f": {note}" if note else ""),
            )
        elif len(valid_approvals(stage)) >= stage.plan.get("min_approvers", 1):
            if stage.kind == "approval":
                StageRun.objects.filter(pk=stage.pk).update(actor=user)
                finish_stage(stage, StageRun.Status.SUCCEEDED, "", {
                    "approved_by": [a.user.username for a in valid_approvals(stage)],
                    "digest": stage.run.digest,
                })  # fmt: skip
            else:  # a confirmed deploy: it runs now, as the person who confirmed it
                StageRun.objects.filter(pk=stage.pk).update(
                    status=StageRun.Status.RUNNING,
                    actor=user,
                    worker="",
                    heartbeat_at=timezone.now(),
                )
                record_event(run.pk, stage.name, "stage", f"Started deploy (confirmed by {user.username})",
                             {"status": "running"})  # fmt: skip
                PipelineRun.objects.filter(pk=run.pk, status=PipelineRun.Status.WAITING).update(
                    status=PipelineRun.Status.RUNNING
                )
                dispatch_on_commit("pipelines.tasks.run_stage", stage.pk)
    stage.refresh_from_db()
    return stage


def waiting_for(user) -> list[StageRun]:
    """Every approval and confirmation ``user`` can give now, oldest first."""
    if user is None or not user.is_authenticated:
        return []
    waiting = list(
        StageRun.objects.filter(status=StageRun.Status.WAITING, run__status__in=PipelineRun.ACTIVE)
        .filter(run__pipeline__environment__in=access.visible_environments(user))
        .select_related("run__pipeline__service", "run__revision", "environment")
        .order_by("started_at", "id")
    )
    actions = access.actions_by_environment(user, {s.environment for s in waiting if s.environment})
    shown = []
    for stage in waiting:
        if _permission(stage) not in actions.get(stage.environment_id, ()):
            continue
        if user.pk in stage.run.starter_ids and not stage.run.revision.document.get(
            "allow_self_approval"
        ):
            continue
        if any(a.user_id == user.pk for a in valid_approvals(stage)):
            continue
        shown.append(stage)
    return shown

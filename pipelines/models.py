"""Pipelines: versioned definitions of a service's stages, their runs, stage runs,
progress events, approvals and signed webhook deliveries."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from environments.models import Environment, Service
from portal.core.crypto import decrypt, encrypt

__all__ = [
    "Approval",
    "Pipeline",
    "PipelineRevision",
    "PipelineRun",
    "RunEvent",
    "StageRun",
    "WebhookDelivery",
]


class PipelineQuerySet(models.QuerySet):
    def restrict(self, user, action: str = "view_environment") -> PipelineQuerySet:
        """Pipelines whose home environment (where their first stage works) ``user`` may
        perform ``action`` in; any other pipeline is as missing as one that does not exist."""
        return self.filter(environment__in=Environment.objects.restrict(user, action))


class Pipeline(models.Model):
    """A service's pipeline: an ordered list of stages, defined by its newest revision.

    ``environment`` is its home: the environment of its first stage, which decides who
    sees it and who may start it (``deploy_to_environment`` there). The CI webhook's
    secret is stored encrypted and shown once, when it is made.
    """

    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="pipelines")
    name = models.SlugField(max_length=63)
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="pipelines")
    webhook_secret_encrypted = models.TextField(blank=True)
    webhook_secret_set_at = models.DateTimeField(null=True, blank=True)
    # Who holds the secret: runs it starts count them as a starter (no self-approval).
    webhook_secret_set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PipelineQuerySet.as_manager()

    class Meta:
        ordering = ["service__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["service", "name"], name="pipeline_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.service}/{self.name}"

    @property
    def webhook_secret(self) -> str:
        return decrypt(self.webhook_secret_encrypted) if self.webhook_secret_encrypted else ""

    @webhook_secret.setter
    def webhook_secret(self, value: str) -> None:
        self.webhook_secret_encrypted = encrypt(value) if value else ""

    def current_revision(self) -> PipelineRevision | None:
        return self.revisions.order_by("-revision").first()


class PipelineRevision(models.Model):
    """One version of a pipeline's definition: the YAML as written and the validated
    document. Never edited; a run follows the revision it started from."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="revisions")
    revision = models.PositiveIntegerField()
    text = models.TextField()
    document = models.JSONField()
    comment = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pipeline", "-revision"]
        constraints = [
            models.UniqueConstraint(
                fields=["pipeline", "revision"], name="pipelinerevision_unique_revision"
            )
        ]

    def __str__(self) -> str:
        return f"{self.pipeline} r{self.revision}"


class PipelineRunQuerySet(models.QuerySet):
    def restrict(self, user, action: str = "view_environment") -> PipelineRunQuerySet:
        return self.filter(pipeline__in=Pipeline.objects.restrict(user, action))


class PipelineRun(models.Model):
    """One run of a pipeline revision: created with all its stage runs before any work,
    driven by Celery, finished once (succeeded, failed or cancelled) with a reason."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        WAITING = "waiting", "Waiting for people"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE = (Status.PENDING, Status.RUNNING, Status.WAITING)

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="runs")
    revision = models.ForeignKey(PipelineRevision, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    reason = models.TextField(blank=True)
    digest = models.CharField(max_length=71, blank=True)
    trigger = models.JSONField(default=dict, help_text="button, webhook or registry push")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    rerun_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_event_seq = models.PositiveIntegerField(
        default=0, editable=False, help_text="the number of its last event"
    )

    objects = PipelineRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.pipeline} run #{self.pk} ({self.status})"

    @property
    def starter_ids(self) -> set[int]:
        """Who started the run: the person who pressed the button or pushed the trigger,
        and for a webhook the person who holds its secret (created or rotated it)."""
        ids = {self.actor_id} if self.actor_id else set()
        for key in ("pushed_by_id", "secret_set_by_id"):
            if self.trigger.get(key):
                ids.add(self.trigger[key])
        return ids


class StageRun(models.Model):
    """One stage of a run, with the plan it follows (copied from the revision), its log,
    results and, for approvals and confirmations, the people it waits for."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        WAITING = "waiting", "Waiting for people"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        SKIPPED = "skipped", "Skipped"

    ACTIVE = (Status.RUNNING, Status.WAITING)
    DONE = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.SKIPPED)

    run = models.ForeignKey(PipelineRun, on_delete=models.CASCADE, related_name="stages")
    step = models.PositiveSmallIntegerField(help_text="Stages of one step run in parallel.")
    name = models.CharField(max_length=63)
    kind = models.CharField(max_length=20)
    plan = models.JSONField(help_text="The stage as the revision defines it.")
    environment = models.ForeignKey(
        Environment, null=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    reason = models.TextField(blank=True)
    log = models.TextField(blank=True)
    results = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    attempt = models.PositiveSmallIntegerField(default=1)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["run", "step", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="stagerun_unique_name")]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.name} ({self.status})"

    @property
    def duration(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class RunEvent(models.Model):
    """One progress event of a run (a stage changed, log lines, an approval), persisted
    before it is pushed, so a late viewer replays the whole history and then follows."""

    run = models.ForeignKey(PipelineRun, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    at = models.DateTimeField(auto_now_add=True)
    stage = models.CharField(max_length=63, blank=True)
    kind = models.CharField(max_length=20)  # stage, log, approval, run
    message = models.TextField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="runevent_unique_seq")]

    def __str__(self) -> str:
        return f"{self.run_id}.{self.seq} {self.message[:60]}"

    def as_message(self) -> dict:
        return {
            "seq": self.seq, "at": self.at.isoformat(), "stage": self.stage, "kind": self.kind,
            "message": self.message, "data": self.data,
        }  # fmt: skip


class Approval(models.Model):
    """One person's decision on an approval or confirmation stage, bound to the exact
    digest and the test results they saw. An approval counts until ``expires_at``."""

    stage = models.ForeignKey(StageRun, on_delete=models.CASCADE, related_name="approvals")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved = models.BooleanField()
    note = models.TextField(blank=True)
    digest = models.CharField(max_length=71, blank=True)
    test_results = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["stage", "at"]

    def __str__(self) -> str:
        return f"{'approval' if self.approved else 'rejection'} of {self.stage} by {self.user}"


class WebhookDelivery(models.Model):
    """A signed webhook call that was accepted: its signature may never be used again."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="deliveries")
    signature = models.CharField(max_length=64)
    timestamp = models.BigIntegerField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["pipeline", "signature"], name="webhookdelivery_unique_signature"
            )
        ]

    def __str__(self) -> str:
        return f"delivery to {self.pipeline_id} at {self.timestamp}"

"""Deployments of a service's digest to an environment, and their progress events."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from environments.models.environments import Environment
from environments.models.services import Service, ServiceConfig

__all__ = ["Deployment", "DeploymentEvent"]


class DeploymentQuerySet(models.QuerySet):
    def restrict(self, user, action: str = "view_environment") -> DeploymentQuerySet:
        """Deployments in environments where ``user`` may perform ``action``.

        An EXISTS per row (not ``environment IN (...)``), so that a list in the default
        order walks the (created_at, id) index and stops at the end of its page instead
        of sorting every visible deployment (see ``AuditEvent.objects.restrict``)."""
        environments = Environment.objects.restrict(user, action)
        return self.filter(models.Exists(environments.filter(pk=models.OuterRef("environment_id"))))

    def active(self) -> DeploymentQuerySet:
        """Deployments still pending or running."""
        return self.filter(status__in=Deployment.ACTIVE)

    def succeeded(self) -> DeploymentQuerySet:
        """Successful deployments of a digest (stop and restart operations are not)."""
        return self.filter(status=Deployment.Status.SUCCEEDED, action=Deployment.Action.DEPLOY)

    def last_succeeded(
        self, service, environment, *, before: Deployment | None = None
    ) -> Deployment | None:
        """The newest successful deployment of ``service`` to ``environment`` (created
        before ``before`` when given): what runs there, and what a rollback goes back to."""
        found = self.succeeded().filter(service=service, environment=environment)
        if before is not None:
            found = found.filter(created_at__lt=before.created_at)
        return found.order_by("-created_at", "-id").first()


class Deployment(models.Model):
    """One deployment of a service's digest and config revision to an environment.

    Created (pending) before any work, claimed by exactly one worker (running), and
    finished as succeeded, failed or cancelled with a reason. ``heartbeat_at`` moves
    while a worker is on it, so a deployment whose worker died is noticed and failed.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Action(models.TextChoices):
        DEPLOY = "deploy", "Deploy"
        STOP = "stop", "Stop"
        RESTART = "restart", "Restart"

    ACTIVE = (Status.PENDING, Status.RUNNING)

    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="deployments")
    environment = models.ForeignKey(
        Environment, on_delete=models.PROTECT, related_name="deployments"
    )
    digest = models.CharField(max_length=71)
    config = models.ForeignKey(ServiceConfig, on_delete=models.PROTECT, related_name="deployments")
    action = models.CharField(
        max_length=10,
        choices=Action.choices,
        default=Action.DEPLOY,
        help_text="deploy a digest, or stop / restart what runs (an operation on the service).",
    )
    strategy = models.CharField(max_length=20)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)
    reason = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    rollback_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    last_event_seq = models.PositiveIntegerField(
        default=0, editable=False, help_text="the number of its last event"
    )
    worker = models.CharField(max_length=255, blank=True)

    objects = DeploymentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["service", "environment", "-created_at"]),
            # The list's order: a page is read from the index, not sorted from every row.
            models.Index(fields=["-created_at", "-id"], name="deployment_newest_first"),
        ]
        constraints = [
            # One active deployment per service and environment, enforced by the database.
            models.UniqueConstraint(
                fields=["service", "environment"],
                condition=models.Q(status__in=["pending", "running"]),
                name="deployment_one_active",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.service} → {self.environment} ({self.status})"

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class DeploymentEvent(models.Model):
    """One step of a deployment, persisted before it is pushed, so a late viewer replays
    the whole history and then follows live."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=20)  # step, pull, replica, traffic, done, failed
    message = models.TextField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["deployment", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "seq"], name="deploymentevent_unique_seq")
        ]

    def __str__(self) -> str:
        return f"{self.deployment_id}.{self.seq} {self.message}"

    def as_message(self) -> dict:
        return {
            "seq": self.seq, "at": self.at.isoformat(), "kind": self.kind,
            "message": self.message, "data": self.data,
        }  # fmt: skip

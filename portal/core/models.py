"""Portal-wide records: the append-only audit log and personal API tokens."""

from __future__ import annotations

from django.conf import settings
from django.db import connections, models


class AppendOnlyQuerySet(models.QuerySet):
    """Refuses bulk updates and deletes: audit history is never rewritten."""

    def update(self, **kwargs):
        raise PermissionError("Audit events are append-only.")

    def delete(self):
        raise PermissionError("Audit events are append-only.")


class AuditEventQuerySet(AppendOnlyQuerySet):
    def restrict(self, user, visible_environments) -> AuditEventQuerySet:
        """Events this user may read: those of ``visible_environments`` (the environments
        the caller's access path says they can view), and their own environment-less
        events (tokens, profile). Superusers read everything; an inactive user (superuser
        or not) nothing, as for every other restriction."""
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        # The plan that reads a page in the list's order differs by database. SQLite reads
        # ``environment IN (...)`` through the environment index and sorts every visible
        # event for a page of 50; as a correlated EXISTS it walks the (created_at, id)
        # index and stops when the page is full. PostgreSQL hashes the IN subquery and
        # walks that index by itself, while under the OR it cannot turn EXISTS into a
        # semi-join, estimates a per-row subplan over the whole table and spends a second
        # compiling it (JIT) for a bounded count.
        if connections[self.db].vendor == "sqlite":
            visible = models.Exists(
                visible_environments.filter(pk=models.OuterRef("environment_id"))
            )
        else:
            visible = models.Q(environment__in=visible_environments)
        return self.filter(
            visible | models.Q(environment__isnull=True, environment_name="", actor=user)
        )


class AuditEvent(models.Model):
    """One state change, who made it, from where and when.

    Written by the domain functions (never by views), never updated or deleted. The
    environment and actor names are copied so the record survives their deletion.
    """

    created_at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=255)
    environment = models.ForeignKey(
        "environments.Environment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_events",
    )
    environment_name = models.CharField(max_length=100, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["environment", "-created_at"]),
            # The list's order: a page is read from the index, not sorted from every row.
            models.Index(fields=["-created_at", "-id"], name="auditevent_newest_first"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_name or 'system'} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit events are append-only.")


class ApiToken(models.Model):
    """A personal API token. Only a SHA-256 of the secret is stored; the secret is shown
    once, when the token is created."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="First characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

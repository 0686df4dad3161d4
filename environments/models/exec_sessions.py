"""Exec sessions: who ran what in which container, when, and how it ended."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from environments.models.environments import Environment

__all__ = ["ExecSession"]


class ExecSessionQuerySet(models.QuerySet):
    def restrict(self, user, action: str = "view_environment") -> ExecSessionQuerySet:
        return self.filter(environment__in=Environment.objects.restrict(user, action))

    def open(self) -> ExecSessionQuerySet:
        """Sessions still going: not ended, and heard of lately (a server process that
        died leaves its sessions unended, and they stop counting after a while)."""
        alive = timezone.now() - timedelta(seconds=settings.EXEC_IDLE_TIMEOUT + 60)
        return self.filter(ended_at__isnull=True, last_seen_at__gte=alive)


class ExecSession(models.Model):
    """One ``docker exec`` session through the exec websocket.

    Written before the command starts (``started_at``) and finished once
    (``ended_at``, ``exit_code`` when the command ended, ``end_reason``). The
    websocket touches ``last_seen_at`` while it lives, so an unended session of a
    process that died stops counting towards the per-user limit.
    """

    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="exec_sessions"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(max_length=150)
    container_id = models.CharField(max_length=64)
    container_name = models.CharField(max_length=255, blank=True)
    command = models.JSONField(default=list)
    tty = models.BooleanField(default=True)
    started_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    end_reason = models.CharField(max_length=200, blank=True)

    objects = ExecSessionQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["user", "ended_at"])]

    def __str__(self) -> str:
        return f"exec #{self.pk} in {self.container_name or self.container_id[:12]}"

"""Services and their per-environment configuration revisions."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from environments.models.environments import Environment

__all__ = ["Service", "ServiceConfig"]


class ServiceQuerySet(models.QuerySet):
    def restrict(self, user, action: str = "view_environment") -> ServiceQuerySet:
        """Services configured in an environment the user can see, plus services not yet
        configured anywhere for whoever can deploy somewhere."""
        if user is None or not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self
        visible = Environment.objects.restrict(user, action)
        shown = models.Q(configs__environment__in=visible)
        if Environment.objects.restrict(user, "deploy_to_environment").exists():
            shown |= models.Q(configs__isnull=True)  # new services, for those who can deploy
        return self.filter(shown).distinct()


class Service(models.Model):
    """Something Berth deploys: an image repository in a registry, configured per
    environment (see :class:`ServiceConfig`)."""

    name = models.SlugField(max_length=63, unique=True, help_text="Lowercase, used in names.")
    description = models.TextField(blank=True)
    registry = models.ForeignKey(
        "registry.Registry", on_delete=models.PROTECT, related_name="services"
    )
    repository = models.CharField(max_length=255)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ServiceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def image(self, digest: str) -> str:
        return f"{self.registry.host}/{self.repository}@{digest}"

    def current_config(self, environment: Environment) -> ServiceConfig | None:
        return self.configs.filter(environment=environment).order_by("-revision").first()


class ServiceConfig(models.Model):
    """One revision of a service's configuration in one environment. Never edited:
    every change is a new revision, so any two can be compared and redeployed."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="configs")
    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="service_configs"
    )
    revision = models.PositiveIntegerField()
    document = models.JSONField()
    comment = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["service", "environment", "-revision"]
        constraints = [
            models.UniqueConstraint(
                fields=["service", "environment", "revision"], name="serviceconfig_unique_revision"
            )
        ]

    def __str__(self) -> str:
        return f"{self.service} in {self.environment} r{self.revision}"

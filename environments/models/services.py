"""Services and their per-environment configuration revisions."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from environments.models.environments import Environment
from portal.core.crypto import decrypt, encrypt

__all__ = ["SecretEnvJSONField", "Service", "ServiceConfig"]


class SecretEnvJSONField(models.JSONField):
    """A config document whose secret environment values (the names in ``secret_env``)
    are stored encrypted like Berth's other secrets; Python code sees plain values."""

    @staticmethod
    def _map_secrets(document, transform):
        if not isinstance(document, dict) or not isinstance(document.get("env"), dict):
            return document
        secret = set(document.get("secret_env") or [])
        env = {
            name: transform(value) if name in secret and isinstance(value, str) and value else value
            for name, value in document["env"].items()
        }
        return {**document, "env": env}

    def from_db_value(self, value, expression, connection):
        document = super().from_db_value(value, expression, connection)
        return self._map_secrets(document, decrypt)

    def get_prep_value(self, value):
        return super().get_prep_value(self._map_secrets(value, encrypt))


class ServiceQuerySet(models.QuerySet):
    def restrict(self, user, action: str = "view_environment") -> ServiceQuerySet:
        """Services configured in an environment the user can see, plus services not yet
        configured anywhere for whoever can deploy somewhere. Nothing for an inactive
        user, superuser or not (as ``Environment.objects.restrict``)."""
        if user is None or not user.is_authenticated or not user.is_active:
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
    document = SecretEnvJSONField()
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

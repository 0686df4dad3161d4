"""Registries, the images Berth knows of in them, and promotions between environments."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from portal.core.crypto import EncryptedTextField


class RegistryQuerySet(models.QuerySet):
    def restrict(self, user, action: str = "view_environment") -> RegistryQuerySet:
        """Registries of environments the user can view; all of them for the
        administrators who manage registries (they create registries no environment
        uses yet). Nothing for an inactive user, superuser or not."""
        from environments.models import Environment

        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser or user.has_perm("registry.change_registry"):
            return self
        visible = Environment.objects.restrict(user, action)
        return self.filter(environments__in=visible).distinct()


def registry_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a registry's base URL, or None. Django's URLValidator also
    lets through ftp://, ports above 65535 and user:password@, which the registry
    client could then not use (or would show in every image reference)."""
    example = "e.g. http://127.0.0.1:5000"
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"Not a URL: use {example}."
    if parts.scheme.lower() not in ("http", "https"):
        return f"Use an http:// or https:// URL, {example}."
    if "@" in parts.netloc:
        return "Leave credentials out of the URL: put them in the username and password fields."
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or parts.netloc.endswith(":"):
        return f"Use a port from 1 to 65535, {example}."
    if not parts.hostname:
        return f"Give the registry's host, {example}."
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        return "A registry's base URL has no query (?...) or fragment (#...)."
    return None


class Registry(models.Model):
    """An OCI / Docker registry (Distribution, Harbor, ...). The password and the webhook
    secret are stored encrypted and never shown again after they are saved."""

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(help_text="Base URL, e.g. http://127.0.0.1:5000.")
    username = models.CharField(max_length=150, blank=True)
    password = EncryptedTextField(blank=True)
    verify_tls = models.BooleanField(default=True)
    webhook_secret = EncryptedTextField(
        blank=True, help_text="Shared secret the registry sends in its notification header."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    refresh_queued_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text="When a refresh was queued that has not started yet (one at a time).",
    )  # fmt: skip

    objects = RegistryQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "registries"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        problem = registry_url_problem(self.url) if self.url else None
        if problem:
            raise ValidationError({"url": problem})

    @property
    def host(self) -> str:
        """host:port as image references spell it."""
        return self.url.split("://", 1)[-1].rstrip("/")


class RepositoryQuerySet(models.QuerySet):
    def restrict(self, user, action: str = "view_environment") -> RepositoryQuerySet:
        """Repositories in registries the user can see."""
        return self.filter(registry__in=Registry.objects.restrict(user, action))


class Repository(models.Model):
    """A repository seen in a registry (through a refresh or a push notification)."""

    registry = models.ForeignKey(Registry, on_delete=models.CASCADE, related_name="repositories")
    name = models.CharField(max_length=255)
    refreshed_at = models.DateTimeField(null=True, blank=True)

    objects = RepositoryQuerySet.as_manager()

    class Meta:
        ordering = ["registry__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["registry", "name"], name="repository_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.registry.host}/{self.name}"


class ImageQuerySet(models.QuerySet):
    def restrict(self, user, action: str = "view_environment") -> ImageQuerySet:
        return self.filter(repository__in=Repository.objects.restrict(user, action))


class Image(models.Model):
    """One manifest digest in a repository, with what Berth read of it."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="images")
    digest = models.CharField(max_length=71)
    media_type = models.CharField(max_length=100, blank=True)
    size = models.BigIntegerField(default=0, help_text="Bytes of config and layers.")
    architectures = models.JSONField(default=list, blank=True)
    created = models.DateTimeField(null=True, blank=True, help_text="Build time from the config.")
    first_seen_at = models.DateTimeField(auto_now_add=True)

    objects = ImageQuerySet.as_manager()

    class Meta:
        ordering = ["-first_seen_at"]
        constraints = [
            models.UniqueConstraint(fields=["repository", "digest"], name="image_unique_digest")
        ]

    def __str__(self) -> str:
        return f"{self.repository}@{self.digest}"


class Tag(models.Model):
    """A tag of a repository and the digest it points at, as last seen."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=128)
    digest = models.CharField(max_length=71)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["repository", "name"]
        constraints = [
            models.UniqueConstraint(fields=["repository", "name"], name="tag_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.repository}:{self.name}"


class TagLock(models.Model):
    """A row to lock while writing a tag: tag PUTs have no compare-and-swap."""

    registry = models.ForeignKey(Registry, on_delete=models.CASCADE, related_name="+")
    repository = models.CharField(max_length=255)
    tag = models.CharField(max_length=128)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["registry", "repository", "tag"], name="taglock_unique")
        ]

    def __str__(self) -> str:
        return f"lock {self.repository}:{self.tag}"


class PromotionQuerySet(models.QuerySet):
    def restrict(self, user, action: str = "view_environment") -> PromotionQuerySet:
        """Promotions out of or into environments the user can view."""
        from environments.models import Environment

        visible = Environment.objects.restrict(user, action)
        return self.filter(
            models.Q(source_environment__in=visible) | models.Q(target_environment__in=visible)
        )

    def signed_off_from(self, environment):
        """Successful promotions out of ``environment``: what was already signed off
        there (and is not offered, nor accepted, again)."""
        return self.signed_off_from_any([environment])

    def signed_off_from_any(self, environments):
        """:meth:`signed_off_from` for several environments at once."""
        return self.filter(source_environment__in=environments, status=Promotion.Status.SUCCEEDED)

    def succeeded_into(self, environment, registry, repository: str, digest: str):
        """Successful promotions of ``repository@digest`` in ``registry`` into
        ``environment``: the evidence that the environment may run that digest."""
        return self.filter(
            target_environment=environment,
            target_registry=registry,
            target_repository=repository,
            digest=digest,
            status=Promotion.Status.SUCCEEDED,
        )


class Promotion(models.Model):
    """One sign-off: a digest leaving one environment for the next, retagged in the
    registry. Created before any registry call, finished as succeeded or failed."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    digest = models.CharField(max_length=71)
    source_environment = models.ForeignKey(
        "environments.Environment", on_delete=models.PROTECT, related_name="promotions_out"
    )
    target_environment = models.ForeignKey(
        "environments.Environment", on_delete=models.PROTECT, related_name="promotions_in"
    )
    source_registry = models.ForeignKey(Registry, on_delete=models.PROTECT, related_name="+")
    source_repository = models.CharField(max_length=255)
    target_registry = models.ForeignKey(Registry, on_delete=models.PROTECT, related_name="+")
    target_repository = models.CharField(max_length=255)
    tags = models.JSONField(default=list, help_text="Tags written in the target repository.")
    version = models.CharField(max_length=128, blank=True)
    note = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    error = models.TextField(blank=True)
    log = models.JSONField(default=list, blank=True, help_text="Steps, as they happened.")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = PromotionQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["target_environment", "digest", "status"])]

    def __str__(self) -> str:
        return f"{self.source_repository}@{self.digest[:19]} {self.source_environment} → {self.target_environment}"

    @property
    def target_reference(self) -> str:
        return f"{self.target_registry.host}/{self.target_repository}@{self.digest}"

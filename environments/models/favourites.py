"""Favourites: environments and services a person starred, shown first on their dashboard."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class FavouriteQuerySet(models.QuerySet):
    def of(self, user) -> FavouriteQuerySet:
        """``user``'s own stars (nobody reads another person's)."""
        return self.filter(user=user)


class Favourite(models.Model):
    """One star: ``user`` put ``environment`` or ``service`` (exactly one) first on their
    dashboard. Stars are only made through ``environments.actions.star``, which checks that
    the user can see the object; a star whose object became hidden is not shown."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="favourites"
    )
    environment = models.ForeignKey(
        "environments.Environment", on_delete=models.CASCADE, null=True, blank=True,
        related_name="+",
    )  # fmt: skip
    service = models.ForeignKey(
        "environments.Service", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = FavouriteQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(environment__isnull=False, service__isnull=True)
                | Q(environment__isnull=True, service__isnull=False),
                name="favourite_one_object",
            ),
            models.UniqueConstraint(
                fields=["user", "environment"],
                condition=Q(environment__isnull=False),
                name="favourite_environment_once",
            ),
            models.UniqueConstraint(
                fields=["user", "service"],
                condition=Q(service__isnull=False),
                name="favourite_service_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ★ {self.environment or self.service}"

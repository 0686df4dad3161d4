"""Favourites: a person's starred environments and services, shown first on their
dashboard. Only what the person can see can be starred (a hidden object answers exactly
as a missing one), and a star whose object became hidden is not shown.

A star changes nothing anyone else sees, so it is not written to the audit log."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from environments import access
from environments.models import Environment, Favourite, Service
from portal.core.errors import NotFound

__all__ = ["favourites_of", "star", "star_ids", "unstar"]


def star(user, *, environment: str | None = None, service: str | None = None) -> Favourite:
    """Star the environment with slug ``environment`` or the service named ``service``
    (exactly one) for ``user``; starring again answers the existing star."""
    if (environment is None) == (service is None):
        raise ValueError("Star an environment or a service: give exactly one.")
    if environment is not None:
        target = {"environment": access.get_environment(user, slug=environment)}
    else:
        target = {"service": access.get_service(user, name=service)}
    try:
        with transaction.atomic():
            return Favourite.objects.get_or_create(user=user, **target)[0]
    except IntegrityError:  # two stars at once: the other one won
        return Favourite.objects.get(user=user, **target)


def unstar(user, favourite_id: int) -> None:
    """Remove one of ``user``'s own stars; another person's answers as a missing one."""
    deleted, _ = Favourite.objects.of(user).filter(pk=favourite_id).delete()
    if not deleted:
        raise NotFound("No such favourite.")


SHOWN = 30  # favourites of each kind on the dashboard; the page stays bounded


def favourites_of(user, limit: int = SHOWN) -> tuple[list[Environment], list[Service]]:
    """The environments and services ``user`` starred and can still see, the earliest
    starred first, at most ``limit`` of each: four queries, however many stars."""
    stars = Favourite.objects.of(user)
    environment_ids = list(
        stars.filter(environment__isnull=False).values_list("environment_id", flat=True)[:limit]
    )
    service_ids = list(
        stars.filter(service__isnull=False).values_list("service_id", flat=True)[:limit]
    )
    environments = {
        e.pk: e for e in access.visible_environments(user).filter(pk__in=environment_ids)
    }
    services = {
        s.pk: s
        for s in Service.objects.restrict(user)
        .select_related("registry")
        .filter(pk__in=service_ids)
    }
    return (
        [environments[pk] for pk in environment_ids if pk in environments],
        [services[pk] for pk in service_ids if pk in services],
    )


def star_ids(user) -> dict[str, dict[int, int]]:
    """``{"environment": {environment id: star id}, "service": {service id: star id}}``
    for ``user``'s stars, so a page can draw each object's star as on or off."""
    ids: dict[str, dict[int, int]] = {"environment": {}, "service": {}}
    for pk, environment_id, service_id in Favourite.objects.of(user).values_list(
        "pk", "environment_id", "service_id"
    ):
        if environment_id:
            ids["environment"][environment_id] = pk
        else:
            ids["service"][service_id] = pk
    return ids

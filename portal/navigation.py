"""What every page's frame shows besides its content: breadcrumbs from the URL that was
resolved, and the "Access & roles" entry for people who manage an environment.

Names come through the same restricted querysets as the pages, so a crumb never names
something the user cannot see (on a 404 page of a hidden object, the crumb is the id).
Both are lazy: a fragment or an API answer that does not draw the frame asks nothing.
"""

from __future__ import annotations

from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from environments import access
from environments.models import Deployment, Environment
from environments.roles import MANAGE
from registry.models import Image

__all__ = ["breadcrumbs", "navigation"]

# README sections, by page (url name or its prefix): the help link of each page.
HELP = {
    "dashboard": "roles",
    "env-": "live-logs-and-events",
    "page-": "services-and-deployments",
    "promotion-board": "registries-and-promotion",
    "image": "registries-and-promotion",
    "audit-log": "roles",
    "profile": "roles",
}


def _environment(user, slug: str) -> tuple[str, str]:
    found = access.visible_environments(user).filter(slug=slug).values_list("name", flat=True)
    return (found.first() or slug), reverse("env-page", args=[slug])


def breadcrumbs(request) -> list[tuple[str, str]]:
    """``[(label, url)]`` from the dashboard down to this page (the last has no url)."""
    match = getattr(request, "resolver_match", None)
    user = getattr(request, "user", None)
    if match is None or user is None or not user.is_authenticated:
        return []
    name, kwargs = match.url_name or "", match.kwargs
    home = ("Environments", reverse("dashboard"))
    services = ("Services", reverse("page-service-list"))
    crumbs: list[tuple[str, str]] = []
    if name == "env-page":
        crumbs = [home, _environment(user, kwargs["slug"])]
    elif name == "env-container":
        crumbs = [
            home,
            _environment(user, kwargs["slug"]),
            (f"Container {kwargs['container_id'][:12]}", ""),
        ]
    elif name == "env-access":
        crumbs = [home, _environment(user, kwargs["slug"]), ("Access & roles", "")]
    elif name == "page-service":
        crumbs = [services, (kwargs["name"], "")]
    elif name == "page-service-logs":
        crumbs = [
            services,
            (kwargs["name"], reverse("page-service", args=[kwargs["name"]])),
            (f"Logs in {_environment(user, kwargs['slug'])[0]}", ""),
        ]
    elif name == "page-deployment":
        row = (
            Deployment.objects.restrict(user)
            .filter(pk=kwargs["pk"])
            .values_list("service__name", "environment__name", "action")
            .first()
        )
        crumbs = [services]
        if row:
            crumbs.append((row[0], reverse("page-service", args=[row[0]])))
            crumbs.append((f"{row[2].capitalize()} #{kwargs['pk']} in {row[1]}", ""))
        else:
            crumbs.append((f"Deployment #{kwargs['pk']}", ""))
    elif name == "image-page":
        repository = (
            Image.objects.restrict(user)
            .filter(pk=kwargs["image_id"])
            .values_list("repository__name", "digest")
            .first()
        )
        label = (
            f"{repository[0]}@{repository[1][7:19]}"
            if repository
            else f"Image {kwargs['image_id']}"
        )
        crumbs = [("Images", reverse("image-page-list")), (label, "")]
    return crumbs


def _help(request) -> str:
    name = getattr(getattr(request, "resolver_match", None), "url_name", "") or ""
    for prefix, section in HELP.items():
        if name.startswith(prefix):
            return section
    return ""


def navigation(request) -> dict:
    """Template context processor: ``breadcrumbs``, ``nav_managed`` (the environments the
    user manages, first one first) and ``help_section`` (a README anchor)."""
    user = getattr(request, "user", None)

    def managed():
        if user is None or not user.is_authenticated:
            return []
        return list(Environment.objects.restrict(user, MANAGE).only("slug", "name")[:1])

    return {
        "breadcrumbs": SimpleLazyObject(lambda: breadcrumbs(request)),
        "nav_managed": SimpleLazyObject(managed),
        "help_section": _help(request),
    }

"""List specs shared by a page and the API list of the same objects."""

from __future__ import annotations

from environments.models import Deployment
from portal.core.listing import Filter, ListSpec

__all__ = ["DEPLOYMENTS"]


#: Every deployment one can see: the ``/deployments/`` page and ``/api/deployments/``.
#: The environment filter takes a slug; the page offers the visible ones as choices, and a
#: slug one cannot see keeps nothing, exactly like one that does not exist.
DEPLOYMENTS = ListSpec(
    search=("service__name", "environment__name", "actor__username", "digest", "reason"),
    filters=(
        Filter("environment", "environment__slug", "Environment"),
        Filter("service", "service__name", "Service"),
        Filter(
            "status", "status", "Status", kind="choice", choices=tuple(Deployment.Status.choices)
        ),
        Filter(
            "action", "action", "Action", kind="choice", choices=tuple(Deployment.Action.choices)
        ),
        Filter("actor", "actor__username", "Who (user name)"),
        Filter("since", "created_at", "When", kind="since"),
    ),
    sorts={
        "-created": ("Newest first", ("-created_at", "-id")),
        "created": ("Oldest first", ("created_at", "id")),
        "service": ("Service", ("service__name", "-created_at", "-id")),
        "environment": (
            "Environment",
            ("environment__position", "environment__name", "-created_at", "-id"),
        ),
        "status": ("Status", ("status", "-created_at", "-id")),
    },
    default_sort="-created",
    page_size=50,
    search_label="Find (service, environment, user, digest)",
)

"""The audit log's list spec, shared by the audit page and ``/api/audit-events/``."""

from __future__ import annotations

from django.db.models import Q

from portal.core.listing import Filter, ListSpec

__all__ = ["AUDIT"]


AUDIT = ListSpec(
    search=("target_repr", "action", "actor_name"),
    filters=(
        Filter("environment", "environment_id", "Environment", kind="id"),
        Filter("action", "action", "Action"),
        Filter("actor", lambda name: Q(actor_name=name), "Who (user name)"),
        Filter("since", "created_at", "When", kind="since"),
    ),
    sorts={
        "-created": ("Newest first", ("-created_at", "-id")),
        "created": ("Oldest first", ("created_at", "id")),
    },
    default_sort="-created",
    page_size=50,
    search_label="Find (target, action or user)",
)

"""Template filters every page may use (a builtin: no ``{% load %}`` needed)."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()

JUST_NOW = 60  # seconds: below this "0 minutes ago" says nothing, "just now" does


@register.filter
def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """``moment`` as "just now", "5 minutes ago", "2 days, 3 hours ago"; "" for None."""
    if not moment:
        return ""
    now = now or timezone.now()
    if (now - moment).total_seconds() < JUST_NOW:
        return "just now"
    return f"{timesince(moment, now)} ago"

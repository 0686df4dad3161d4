"""Berth: the Django project and the portal app (dashboard, auth, audit, tokens)."""

from portal.celery import app as celery_app

__all__ = ["celery_app"]

"""The Celery application.

Embedded mode uses the in-process ``memory://`` broker and a worker thread inside
the server (see :mod:`portal.worker`); with ``REDIS_URL`` set, Redis is the broker
and ``celery -A portal worker`` runs separately.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The current app in every thread, not only the one that imported this module: domain
# code queues tasks by name (portal.core.tasks.dispatch_on_commit) from request threads.
app.set_default()


@app.on_after_finalize.connect
def _schedule_periodic_tasks(sender: Celery, **kwargs) -> None:
    from django.conf import settings

    sender.add_periodic_task(
        float(settings.ENDPOINT_PROBE_INTERVAL),
        sender.signature("environments.tasks.probe_all_endpoints"),
        name="probe every environment endpoint",
    )
    sender.add_periodic_task(
        float(settings.REGISTRY_REFRESH_INTERVAL),
        sender.signature("registry.tasks.refresh_all_registries"),
        name="reconcile registry tags",
    )
    sender.add_periodic_task(
        max(5.0, settings.DEPLOYMENT_STALE_AFTER / 4),
        sender.signature("environments.tasks.reap_stale_deployments"),
        name="fail deployments whose worker died",
    )
    sender.add_periodic_task(
        5.0,
        sender.signature("environments.tasks.retire_standby"),
        name="retire blue-green colours whose switch-back time is over",
    )
    sender.add_periodic_task(
        max(5.0, settings.DEPLOYMENT_STALE_AFTER / 4),
        sender.signature("pipelines.tasks.reap_stale_stages"),
        name="fail pipeline stages whose worker died",
    )

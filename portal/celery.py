"""The Celery application.

Embedded mode uses the in-process ``memory://`` broker and a worker thread inside
the server (see :mod:`portal.worker`); with ``REDIS_URL`` set, Redis is the broker
and ``celery -A portal worker`` runs separately.
"""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_process_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The current app in every thread, not only the one that imported this module: domain
# code queues tasks by name (portal.core.tasks.dispatch_on_commit) from request threads.
app.set_default()


@worker_ready.connect
@worker_process_init.connect
def _freeze_loaded(**kwargs) -> None:
    """A worker's start-up objects stay out of the garbage collector's walks (see
    :mod:`portal.core.heap`); in each process of a prefork pool too."""
    from portal.core.heap import freeze_loaded

    freeze_loaded()


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(**kwargs) -> None:
    """Around each task, what Django does around each request: close the connections
    that had an error, failed their health check or outlived CONN_MAX_AGE. (Celery's
    own fixup closes every connection there unless DB_REUSE_MAX is set, as the embedded
    worker does: portal.worker.)"""
    from django.db import close_old_connections

    close_old_connections()


@app.on_after_finalize.connect
def _schedule_periodic_tasks(sender: Celery, **kwargs) -> None:
    from django.conf import settings

    reap_every = max(5.0, settings.DEPLOYMENT_STALE_AFTER / 4)
    periodic = [
        (float(settings.ENDPOINT_PROBE_INTERVAL), "environments.tasks.probe_all_endpoints",
         "probe every environment endpoint"),
        (float(settings.REGISTRY_REFRESH_INTERVAL), "registry.tasks.refresh_all_registries",
         "reconcile registry tags"),
        (reap_every, "environments.tasks.reap_stale_deployments",
         "fail deployments whose worker died"),
        (5.0, "environments.tasks.retire_standby",
         "retire blue-green colours whose switch-back time is over"),
        (reap_every, "pipelines.tasks.reap_stale_stages", "fail pipeline stages whose worker died"),
    ]  # fmt: skip
    for every, task, name in periodic:
        # A periodic task not started within its interval is superseded by the next one:
        # it expires rather than queue up while no worker consumes (a worker down, a
        # busy queue), so that work queued later never waits behind a backlog of them.
        sender.add_periodic_task(
            every, sender.signature(task, options={"expires": every}), name=name
        )

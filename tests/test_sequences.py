"""Event numbers come from the record's counter: consecutive, never shared, and the
counter starts after events recorded before it existed."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from environments.deploying.runner import record_event as record_deployment_event
from environments.models import Deployment, DeploymentEvent
from pipelines.models import PipelineRun
from pipelines.runner.events import record_event
from portal.core.sequences import take_next
from tests.test_api_permissions import kit_pipeline_run
from tests.test_bounded_inputs import deployment  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db(transaction=True)


def test_run_events_are_numbered_one_after_another(environments):
    run = kit_pipeline_run(environments["dev"])
    for number in range(5):
        record_event(run.pk, "", "log", f"line {number}")
    seqs = list(run.events.order_by("seq").values_list("seq", flat=True))
    assert seqs == [1, 2, 3, 4, 5]
    run.refresh_from_db()
    assert run.last_event_seq == 5


def test_writers_at_once_never_share_a_number(environments):
    run = kit_pipeline_run(environments["dev"])
    failures = []

    def write(writer: int) -> None:
        try:
            for number in range(10):
                record_event(run.pk, "", "log", f"{writer}.{number}")
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(writer,)) for writer in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures
    seqs = sorted(run.events.values_list("seq", flat=True))
    assert seqs == list(range(1, 41))


def test_deployment_events_move_the_heartbeat_and_progress(deployment):  # noqa: F811
    record_deployment_event(deployment, "step", "one", {}, 40)
    record_deployment_event(deployment, "step", "two", {}, None)
    deployment.refresh_from_db()
    events = list(deployment.events.order_by("seq").values_list("seq", "message"))
    assert events[-2:] == [(events[-2][0], "one"), (events[-2][0] + 1, "two")]
    assert deployment.progress == 40 and deployment.heartbeat_at is not None
    assert deployment.last_event_seq == events[-1][0]


def test_a_missing_record_is_said_so():
    with pytest.raises(PipelineRun.DoesNotExist):
        take_next(PipelineRun, 987654321, "last_event_seq")
    with pytest.raises(Deployment.DoesNotExist):
        take_next(Deployment, 987654321, "last_event_seq")


def test_the_migration_counts_events_recorded_before_it(deployment):  # noqa: F811
    from importlib import import_module

    from django.apps import apps

    DeploymentEvent.objects.create(deployment=deployment, seq=41, kind="step", message="old")
    Deployment.objects.filter(pk=deployment.pk).update(last_event_seq=0)
    migration = import_module("environments.migrations.0011_last_event_seq")
    migration.count_existing_events(apps, None)
    deployment.refresh_from_db()
    assert deployment.last_event_seq == 41
    record_deployment_event(deployment, "step", "after", {}, None)
    assert deployment.events.get(message="after").seq == 42

"""A stage's log is bounded: the kept log is its tail with a marker saying how much was
dropped, each log event is bounded too, and what is pending goes out on its own."""

from __future__ import annotations

import time

import pytest

from pipelines.models import RunEvent
from pipelines.runner.events import MAX_EVENT, MAX_LOG, LogWriter
from tests.test_api_permissions import kit_pipeline_run

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_flood_keeps_the_tail_with_a_truncated_marker(environments):
    run = kit_pipeline_run(environments["dev"])
    stage = run.stages.get(name="smoke")
    writer = LogWriter(stage, interval=0)
    line = "x" * 1023 + "\n"
    for _ in range(MAX_LOG // 1024 + 100):
        writer.write(line)
    writer.write("the last line\n")
    writer.flush()
    stage.refresh_from_db()
    assert stage.log.startswith("[... truncated: the first ")
    assert "characters of this log were dropped" in stage.log.splitlines()[0]
    assert stage.log.endswith("the last line\n")
    assert len(stage.log) <= MAX_LOG + 200
    sizes = RunEvent.objects.filter(run=run, kind="log").values_list("message", flat=True)
    assert sizes and max(len(message) for message in sizes) <= MAX_EVENT + 100


def test_a_pending_line_goes_out_without_another_write(environments):
    run = kit_pipeline_run(environments["dev"])
    stage = run.stages.get(name="smoke")
    writer = LogWriter(stage, interval=0.3)
    writer.write("first\n")  # out at once
    writer.write("second\n")  # within the interval: pending, then sent by the timer
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        stage.refresh_from_db()
        if "second" in stage.log:
            break
        time.sleep(0.05)
    assert stage.log == "first\nsecond\n"

"""Periodic tasks expire within their interval, so a worker that was down (or a queue
that was busy) never has a backlog of them in front of the work queued after them."""

from portal.celery import app


def test_every_periodic_task_expires_within_its_interval():
    app.loader.import_default_modules()
    app.finalize()
    schedule = app.conf.beat_schedule
    assert len(schedule) >= 5
    for name, entry in schedule.items():
        every = entry["schedule"]
        assert 0 < entry["options"]["expires"] <= every, name

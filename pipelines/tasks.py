"""Celery tasks of pipelines: thin wrappers over the runner, by id."""

from __future__ import annotations

from celery import shared_task

from pipelines.actions import on_registry_push
from pipelines.runner.drive import reap_stale_stages
from pipelines.runner.stages import advance_here, run_stage


@shared_task(name="pipelines.tasks.advance_run", ignore_result=True)
def advance_run(run_id: int) -> None:
    """Move a run on (idempotent); a work stage it starts runs in this task."""
    advance_here(run_id)


@shared_task(name="pipelines.tasks.run_stage", ignore_result=True, acks_late=True)
def run_stage_task(stage_id: int) -> None:
    """Run one work stage. acks_late: a killed worker does not lose the message, and the
    atomic claim makes the redelivery a no-op (the reaper fails the stage)."""
    run_stage(stage_id)


@shared_task(name="pipelines.tasks.reap_stale_stages", ignore_result=True)
def reap_stale_stages_task() -> None:
    reap_stale_stages()


@shared_task(name="pipelines.tasks.image_pushed", ignore_result=True)
def image_pushed(
    registry_id: int, repository: str, tag: str, digest: str, pusher: dict | None = None
) -> None:
    """A registry push event: start the pipelines whose trigger matches it."""
    on_registry_push(registry_id, repository, tag, digest, pusher or {})

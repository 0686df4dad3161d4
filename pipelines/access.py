"""The permission path for pipelines and their runs, on top of
:mod:`environments.access`: a pipeline is seen by whoever may view its home environment;
hidden and missing are the same NotFound."""

from __future__ import annotations

from environments import access
from environments.models import Environment
from environments.roles import LOGS, VIEW
from pipelines.models import Pipeline, PipelineRun
from portal.core.errors import NotFound

__all__ = ["get_pipeline", "get_run", "log_environments", "reason_in_sight", "visible_runs"]


def get_pipeline(user, action: str = VIEW, **lookup) -> Pipeline:
    """The pipeline matching ``lookup`` if ``user`` may view it, then holds ``action`` in
    its home environment (Forbidden naming the action otherwise)."""
    try:
        pipeline = (
            Pipeline.objects.restrict(user, VIEW)
            .select_related("service__registry", "environment")
            .get(**lookup)
        )
    except (Pipeline.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such pipeline.") from None
    access.require(user, pipeline.environment, action)
    return pipeline


def get_run(user, **lookup) -> PipelineRun:
    """The run matching ``lookup`` if ``user`` may view its pipeline."""
    try:
        return (
            PipelineRun.objects.restrict(user, VIEW)
            .select_related("pipeline__service__registry", "pipeline__environment", "revision")
            .get(**lookup)
        )
    except (PipelineRun.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such pipeline run.") from None


def visible_runs(user):
    return PipelineRun.objects.restrict(user, VIEW)


def log_environments(user) -> set[int]:
    """The environments whose stage logs ``user`` may read. A stage's log is what ran
    there (a build's output, a test container's stdout), so it needs ``view_logs`` in
    the stage's environment, like every other log in Berth; without it the stage shows
    its status, reason and results, and no log."""
    return set(Environment.objects.restrict(user, LOGS).values_list("pk", flat=True))


def reason_in_sight(
    reason: str, hidden_stages, instead: str = "failed in an environment you cannot see"
) -> str:
    """A run's reason as a viewer may read it. A run that failed at a stage names it
    (``"deploy-ops: rejected by ops: …"``); when that stage is in an environment the
    viewer cannot see, its name stays and what happened there does not (a rejection's
    note, an engine's error), as the stage itself shows only its name and status."""
    stage, colon, _ = reason.partition(": ")
    if colon and stage in hidden_stages:
        return f"{stage}: {instead}"
    return reason

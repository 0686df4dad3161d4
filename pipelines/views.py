"""Pipeline pages. They only read, through :mod:`pipelines.access`: saving a revision,
starting, approving, rejecting, cancelling, retrying and re-running are forms that
berth.js posts as JSON to the pipelines API (:mod:`pipelines.api`), which calls the
domain functions in :mod:`pipelines.actions`. The run page follows
``/ws/pipeline-runs/<id>/`` and reloads its stage graph fragment on each change."""

from __future__ import annotations

import re
from itertools import groupby

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from environments import access as env_access
from environments.roles import DEPLOY
from pipelines import access
from pipelines.actions import valid_approvals, waiting_for, with_diffs
from pipelines.models import Pipeline, PipelineRun

SLUG = re.compile(r"[-a-zA-Z0-9_]+")  # a service name, as its page's URL takes it
RUNS = 20  # runs listed on a pipeline page
REVISIONS = 10  # revisions listed on a pipeline page


@login_required
def pipeline_list(request):
    # ?service=<name> (the service page's links): only its pipelines, and the new
    # pipeline form filled in for it.
    chosen = request.GET.get("service", "")
    chosen = chosen if len(chosen) <= 100 and SLUG.fullmatch(chosen) else ""
    pipelines = Pipeline.objects.restrict(request.user).select_related("service", "environment")
    if chosen:
        pipelines = pipelines.filter(service__name=chosen)
    pipelines = list(pipelines.order_by("service__name", "name"))
    services = [
        (service, list(items)) for service, items in groupby(pipelines, key=lambda p: p.service)
    ]
    return render(
        request,
        "pipelines/list.html",
        {
            "services": services,
            "service": chosen,
            "can_create": env_access.visible_environments(request.user).exists(),
            "breadcrumbs": [("Pipelines", "/pipelines/" if chosen else None)]
            + ([(chosen, None)] if chosen else []),
        },
    )


@login_required
def pipeline_detail(request, pk: int):
    pipeline = access.get_pipeline(request.user, pk=pk)
    newest = pipeline.revisions.select_related("created_by").order_by("-revision")
    shown = with_diffs(pipeline, list(newest[:REVISIONS]))
    runs = list(
        access.visible_runs(request.user)
        .filter(pipeline=pipeline)
        .select_related("actor", "revision")
        .order_by("-id")[:RUNS]
    )
    return render(
        request,
        "pipelines/detail.html",
        {
            "pipeline": pipeline,
            "current": shown[0][0] if shown else None,
            "revisions": shown,
            "runs": runs,
            "may_deploy": env_access.can(request.user, pipeline.environment, DEPLOY),
            "breadcrumbs": [
                ("Pipelines", "/pipelines/"),
                (f"{pipeline.service.name} · {pipeline.name}", None),
            ],
        },
    )


def _run_context(request, run: PipelineRun) -> dict:
    visible = set(env_access.visible_environments(request.user).values_list("pk", flat=True))
    stages = list(
        run.stages.select_related("environment", "actor")
        .prefetch_related("approvals__user")
        .order_by("step", "id")
    )
    # The decisions this user may give here: the same list as "waiting for you".
    decidable = {stage.pk for stage in waiting_for(request.user) if stage.run_id == run.pk}
    steps = []
    for step, items in groupby(stages, key=lambda s: s.step):
        shown = []
        for stage in items:
            # As in the API and the socket: a stage outside the viewer's environments
            # shows its name and status only.
            seen = stage.environment_id in visible
            shown.append(
                {
                    "stage": stage,
                    "seen": seen,
                    "approvals": list(stage.approvals.all()) if seen else [],
                    "may_decide": stage.pk in decidable,
                    "valid": len(valid_approvals(stage))
                    if seen and stage.kind == "approval"
                    else 0,
                }
            )
        steps.append((step, shown))
    hidden = {stage.name for stage in stages if stage.environment_id not in visible}
    return {
        "run": run,
        "reason": access.reason_in_sight(run.reason, hidden),
        "steps": steps,
        "may_deploy": env_access.can(request.user, run.pipeline.environment, DEPLOY),
        "failed": [s.name for s in stages if s.status == "failed"],
    }


@login_required
def run_detail(request, pk: int):
    run = access.get_run(request.user, pk=pk)
    context = _run_context(request, run)
    context["breadcrumbs"] = [
        ("Pipelines", "/pipelines/"),
        (f"{run.pipeline.service.name} · {run.pipeline.name}", f"/pipelines/{run.pipeline_id}/"),
        (f"Run #{run.pk}", None),
    ]
    return render(request, "pipelines/run.html", context)


@login_required
def run_graph_fragment(request, pk: int):
    run = access.get_run(request.user, pk=pk)
    return render(request, "pipelines/_graph.html", _run_context(request, run))

"""Service and deployment pages. They only read: every change (config, deploy, scale,
restart, stop, rollback) is a form that berth.js posts as JSON to the REST API, which
calls the domain functions in :mod:`environments.actions.deployments`.

Access goes through :mod:`environments.access` and the models' ``restrict(user)``
querysets, so a page shows exactly what the API would return to the same user.
"""

from __future__ import annotations

import difflib
import json

from django.contrib.auth.decorators import login_required
from django.db.models import F, Max, Q, Window
from django.db.models.functions import RowNumber
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from environments import access, actions
from environments.deploying import config as config_schema
from environments.deploying.traffic import entry_point_state, standby_until
from environments.lists import DEPLOYMENTS
from environments.models import Deployment, Environment, Service, ServiceConfig
from environments.roles import DEPLOY, LOGS
from portal.core.listing import Filter, ListSpec
from portal.core.numbers import parse_id
from registry.models import Registry

HISTORY = 15  # deployments listed per environment
PANELS = 8  # environments shown at once on a service page
REVISIONS = 10  # config revisions listed per environment
FORMATS = {"json": "application/json", "yaml": "application/yaml"}


def _pretty(document: dict) -> str:
    return json.dumps(config_schema.mask_secrets(document), indent=2)


def _duration(deployment: Deployment) -> str:
    took = deployment.duration
    if took is None:
        return ""
    seconds = took.total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


def _latest_deployments(user, services) -> dict[tuple[int, int], Deployment]:
    """The newest deployment per (service, environment) the user can view: two queries."""
    latest_ids = (
        Deployment.objects.restrict(user)
        .filter(service__in=services)
        .order_by()
        .values("service", "environment")
        .annotate(latest=Max("id"))
        .values_list("latest", flat=True)
    )
    return {
        (d.service_id, d.environment_id): d
        for d in Deployment.objects.filter(pk__in=list(latest_ids))
    }


SERVICES = ListSpec(
    search=("name", "repository", "description"),
    filters=(
        Filter(
            "environment",
            lambda slug: Q(configs__environment__slug=slug),
            "Configured in (environment slug)",
        ),
    ),
    sorts={
        "name": ("Name", ("name",)),
        "-created": ("Newest first", ("-created_at", "name")),
        "repository": ("Repository", ("repository", "name")),
    },
    default_sort="name",
    page_size=25,
    search_label="Find a service",
)


@login_required
def service_list(request: HttpRequest) -> HttpResponse:
    """A page of services; each row shows the environments it is configured in, with
    the latest deployment there. A fixed number of queries whatever the counts."""
    state = SERVICES.read(request.GET)
    visible = access.visible_environments(request.user)
    services_qs = SERVICES.apply(
        Service.objects.restrict(request.user).select_related("registry"), state
    ).distinct()
    page = state.paginate(services_qs)
    services = list(page.object_list)
    configured = list(
        ServiceConfig.objects.filter(service__in=services, environment__in=visible)
        .order_by("environment__position", "environment__name")
        .values_list("service", "environment")
        .distinct()
    )
    environments = {
        env.pk: env for env in Environment.objects.filter(pk__in={env for _, env in configured})
    }
    latest = _latest_deployments(request.user, services)
    by_service: dict[int, list] = {}
    for service_id, env_id in configured:
        by_service.setdefault(service_id, []).append(
            {
                "environment": environments[env_id],
                "deployment": latest.get((service_id, env_id)),
            }
        )
    rows = [{"service": service, "cells": by_service.get(service.pk, [])} for service in services]
    can_create = Environment.objects.restrict(request.user, DEPLOY).exists()
    return render(
        request,
        "environments/deployments/services.html",
        {
            "rows": rows,
            "page": page,
            "state": state,
            "can_create": can_create,
            "registries": Registry.objects.restrict(request.user) if can_create else [],
        },
    )


MENU_ENVIRONMENTS = 200  # environments offered by the list's filter (any other: a URL away)


@login_required
def deployment_list(request: HttpRequest) -> HttpResponse:
    """Every deployment the user can see, a page at a time: search, filters (environment,
    service, status, action, who, when), sort. A fixed number of queries whatever the
    counts; the API list reads the same spec."""
    menu = list(
        access.visible_environments(request.user).values_list("slug", "name")[:MENU_ENVIRONMENTS]
    )
    state = DEPLOYMENTS.read(request.GET, choices={"environment": menu})
    deployments = Deployment.objects.restrict(request.user).select_related(
        "service", "environment", "actor", "config"
    )
    page = state.paginate(DEPLOYMENTS.apply(deployments, state))
    for deployment in page.object_list:
        deployment.duration_text = _duration(deployment)
    return render(request, "environments/deployments/list.html", {"page": page, "state": state})


def _diff_lines(old: ServiceConfig | None, new: ServiceConfig) -> list[tuple[str, str]]:
    """``new`` against ``old`` (None: nothing before it) as unified-diff lines, masked."""
    lines = difflib.unified_diff(
        _pretty(old.document).splitlines() if old else [],
        _pretty(new.document).splitlines(),
        lineterm="",
        n=3,
    )
    kinds = []
    for line in lines:
        if line.startswith(("---", "+++")):
            continue
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
        kinds.append((kind, line))
    return kinds


def _newest_per_environment(queryset, environments, limit: int, *order) -> dict[int, list]:
    """``{environment id: the first ``limit`` rows of ``queryset`` there, in ``order``}``
    for every one of ``environments``, in one query (a row number per environment)."""
    ranked = (
        queryset.filter(environment__in=environments)
        .annotate(
            rank=Window(RowNumber(), partition_by=[F("environment_id")], order_by=list(order))
        )
        .filter(rank__lte=limit)
        .order_by("environment_id", "rank")
    )
    found: dict[int, list] = {env.pk: [] for env in environments}
    for row in ranked:
        found[row.environment_id].append(row)
    return found


def _panels(
    user, service: Service, environments: list[Environment], allowed: dict, chosen_env, chosen_rev
) -> list[dict]:
    """Everything the service page shows for each of ``environments`` (at most PANELS), in
    a fixed number of queries: each kind of row is read for all panels at once, and config
    documents only where they are shown (the current revision and the diff's pair)."""
    revisions = _newest_per_environment(
        service.configs.select_related("created_by").defer("document"),
        environments,
        REVISIONS,
        "-revision",
    )
    history = _newest_per_environment(
        Deployment.objects.restrict(user)
        .filter(service=service)
        .select_related("actor", "config")
        .defer("config__document"),  # a row shows its config's revision, not the document
        environments,
        HISTORY,
        "-created_at",
        "-id",
    )
    # The two newest successes: what runs, and what a rollback of the latest goes back to.
    succeeded = _newest_per_environment(
        Deployment.objects.restrict(user)
        .succeeded()
        .filter(service=service)
        .select_related("config")
        .defer("config__document"),
        environments,
        2,
        "-created_at",
        "-id",
    )
    # Documents: the current revision everywhere, and the pair the diff compares.
    wanted = {}
    for env in environments:
        if revisions[env.pk]:
            current = revisions[env.pk][0].revision
            chosen = parse_id(chosen_rev) if env.slug == chosen_env else None
            wanted[env.pk] = (current, chosen or current)
    pairs = Q(pk__in=[])
    for env_pk, (current, shown) in wanted.items():
        pairs |= Q(environment_id=env_pk, revision__in={current, shown, shown - 1})
    documents = {
        (c.environment_id, c.revision): c
        for c in service.configs.filter(pairs).select_related("created_by")
    }
    sources = {
        env.pk: {
            "slug": env.slug,
            "name": env.name,
            "revision": wanted[env.pk][0],
            "document": config_schema.mask_secrets(documents[env.pk, wanted[env.pk][0]].document),
        }
        for env in environments
        if env.pk in wanted
    }
    panels = []
    for env in environments:
        actions = allowed[env.pk]
        current = documents[env.pk, wanted[env.pk][0]] if env.pk in wanted else None
        diff = None
        if current:
            shown = documents.get((env.pk, wanted[env.pk][1]))
            if shown is not None:
                previous = documents.get((env.pk, shown.revision - 1))
                diff = {
                    "revision": shown,
                    "previous": previous,
                    "lines": _diff_lines(previous, shown),
                }
        rows = history[env.pk]
        for deployment in rows:
            deployment.duration_text = _duration(deployment)
        latest = rows[0] if rows else None
        running = succeeded[env.pk][0] if succeeded[env.pk] else None
        rollback_to = None
        if (
            latest
            and latest.action == Deployment.Action.DEPLOY
            and latest.status in (Deployment.Status.SUCCEEDED, Deployment.Status.FAILED)
        ):
            earlier = [d for d in succeeded[env.pk] if d.created_at < latest.created_at]
            if earlier:
                rollback_to = earlier[0]
            elif len(succeeded[env.pk]) == 2:  # both share the latest's time: ask exactly
                rollback_to = Deployment.objects.last_succeeded(service, env, before=latest)
        others = [source for pk, source in sources.items() if pk != env.pk]
        panels.append(
            {
                "environment": env,
                "sources": others,
                "sources_json": others,
                "sources_id": f"config-sources-{env.slug}",
                "can_deploy": DEPLOY in actions,
                "can_view_logs": LOGS in actions,
                "current": current,
                "current_json": _pretty(current.document) if current else "",
                "starter_json": json.dumps(config_schema.DEFAULTS, indent=2),
                "revisions": revisions[env.pk],
                "diff": diff,
                "diff_chosen": env.slug == chosen_env and chosen_rev is not None,
                "history": rows,
                "latest": latest,
                "rollback_to": rollback_to,
                "entry_points": entry_point_state(service, env),
                "switch_back": latest if _may_switch_back(latest) else None,
                "running": running,
                # A stop after the last deployment: what was deployed no longer runs.
                "stopped": next(
                    (d.action == Deployment.Action.STOP for d in rows if d.status == "succeeded"),
                    False,
                ),
            }
        )
    return panels


@login_required
def service_detail(request: HttpRequest, name: str) -> HttpResponse:
    service = get_object_or_404(
        Service.objects.restrict(request.user).select_related("registry", "created_by"),
        name=name,
    )
    chosen_env, chosen_rev = request.GET.get("env"), request.GET.get("rev")
    visible = access.visible_environments(request.user)
    # A panel per environment along the path, those the service is configured in (and
    # the one asked for) first, at most PANELS: with a thousand environments the page
    # does not grow a thousand panels; the others are one choice away.
    wanted = Q(service_configs__service=service)
    if isinstance(chosen_env, str) and len(chosen_env) <= 50:
        wanted |= Q(slug=chosen_env)
    environments = list(visible.filter(wanted).distinct()[:PANELS])
    if len(environments) < PANELS:
        environments += list(
            visible.exclude(pk__in=[env.pk for env in environments])[: PANELS - len(environments)]
        )
    environments.sort(key=lambda env: (env.position, env.name))
    allowed = access.actions_by_environment(request.user, environments)
    # The others, offered by name: the first MENU_ENVIRONMENTS along the path (any other
    # is typed), read as pairs rather than a thousand model instances.
    others = list(
        visible.exclude(pk__in=[env.pk for env in environments]).values_list("slug", "name")[
            : MENU_ENVIRONMENTS + 1
        ]
    )
    return render(
        request,
        "environments/deployments/service.html",
        {
            "service": service,
            "panels": _panels(request.user, service, environments, allowed, chosen_env, chosen_rev),
            "others": others[:MENU_ENVIRONMENTS],
            "more_others": len(others) > MENU_ENVIRONMENTS,
            "star_id": actions.star_ids(request.user)["service"].get(service.pk),
        },
    )


@login_required
def config_export(request: HttpRequest, name: str, slug: str, fmt: str) -> HttpResponse:
    """Download a config revision (the current one, or ``?revision=N``), secrets masked."""
    service = get_object_or_404(Service.objects.restrict(request.user), name=name)
    environment = access.get_environment(request.user, slug=slug)
    revisions = service.configs.filter(environment=environment)
    wanted = request.GET.get("revision", "")
    if wanted:
        revision = parse_id(wanted)
        if revision is None:
            raise Http404("No such revision.")
        revisions = revisions.filter(revision=revision)
    config = revisions.order_by("-revision").first()
    if config is None:
        raise Http404("No such revision.")
    response = HttpResponse(
        config_schema.dump(config.document, fmt), content_type=f"{FORMATS[fmt]}; charset=utf-8"
    )
    filename = f"{service.name}-{environment.slug}-r{config.revision}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _steps(events) -> list:
    """Events as the step list shows them: a run of pull reports collapses into its last."""
    steps = []
    for event in events:
        if event.kind == "pull" and steps and steps[-1].kind == "pull":
            steps[-1] = event
        else:
            steps.append(event)
    return steps


def _may_switch_back(deployment: Deployment | None) -> bool:
    """Whether ``deployment`` (the latest of its service and environment) is a
    blue-green one whose previous colour is still kept: what offers "Switch back"."""
    return bool(
        deployment
        and deployment.strategy == "blue-green"
        and deployment.status == Deployment.Status.SUCCEEDED
        and standby_until(deployment.service, deployment.environment)
    )


@login_required
def deployment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    deployment = get_object_or_404(
        Deployment.objects.restrict(request.user).select_related(
            "service__registry", "environment", "actor", "config", "rollback_of"
        ),
        pk=pk,
    )
    events = list(deployment.events.order_by("seq"))
    # slot -> (state, container name): the name comes with the events that know it
    # (a replica started, stopped or restarted), and links to the container page.
    replicas: dict[int, tuple[str, str]] = {}
    for event in events:
        if event.kind == "replica" and isinstance(event.data, dict):
            slot = int(event.data.get("slot", 0))
            name = str(event.data.get("container") or replicas.get(slot, ("", ""))[1])
            replicas[slot] = (str(event.data.get("state", "")), name)
    return render(
        request,
        "environments/deployments/deployment.html",
        {
            "deployment": deployment,
            "environment": deployment.environment,
            "duration": _duration(deployment),
            "steps": _steps(events),
            "replicas": sorted(replicas.items()),
            "finished": deployment.status not in Deployment.ACTIVE,
            "service": deployment.service,
            "traffic": _traffic_of(request.user, deployment),
        },
    )


def _traffic_of(user, deployment: Deployment) -> dict:
    """The entry points of the deployment's service in its environment, live, and
    "Switch back" while this is the blue-green deployment serving with the previous
    colour kept (for those who may deploy there)."""
    if deployment.action != Deployment.Action.DEPLOY:
        return {}
    service, environment = deployment.service, deployment.environment
    latest = Deployment.objects.filter(service=service, environment=environment).order_by("-pk")
    latest = latest.only("pk").first()
    is_latest = latest is not None and latest.pk == deployment.pk
    return {
        "entry_points": entry_point_state(service, environment),
        "switch_back": deployment
        if is_latest and _may_switch_back(deployment) and access.can(user, environment, DEPLOY)
        else None,
        # A blue-green deployment still running: once it ends the page reloads to offer it.
        "may_offer_switch_back": is_latest
        and deployment.strategy == "blue-green"
        and deployment.status in Deployment.ACTIVE,
    }

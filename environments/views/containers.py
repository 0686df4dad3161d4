"""Container and service log pages. They only read: the logs, stats and events arrive
over websockets, the inspect document and the restart / stop / start actions go through
the REST API (posted by berth.js), so a page never talks to an engine after it renders.

Access is the usual path: :func:`access.get_environment` for the environment, then
:func:`engine.find_container`, which only finds containers that environment owns, so an
unknown container and one of an environment the user cannot see are the same 404.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from environments import access, engine
from environments.models import Deployment, Service
from environments.roles import DEPLOY, LOGS
from portal.core.numbers import parse_id

__all__ = ["container_detail", "service_logs"]


@login_required
def container_detail(request: HttpRequest, slug: str, container_id: str) -> HttpResponse:
    environment = access.get_environment(request.user, slug=slug)
    try:
        container = engine.find_container(environment, container_id)
    except engine.EngineUnavailable as exc:
        return render(
            request,
            "environments/container.html",
            {"environment": environment, "container": None, "error": str(exc)},
            status=503,
        )
    if container is None:
        raise Http404("No such container in this environment.")
    actions_here = access.allowed_actions(request.user, environment)
    return render(
        request,
        "environments/container.html",
        {
            "environment": environment,
            "container": container,
            **_owners(request.user, environment, container["labels"]),
            "short_id": container["id"][:12],
            "can_view_logs": LOGS in actions_here,
            "can_deploy": DEPLOY in actions_here,
        },
    )


def _owners(user, environment, labels: dict) -> dict:
    """The service and the deployment a container's labels name, when they exist in this
    environment (for the links back to them); two small queries."""
    service = Service.objects.restrict(user).filter(name=labels.get(engine.LABEL_SERVICE)).first()
    deployment_id = parse_id(str(labels.get(engine.LABEL_DEPLOYMENT, "")))
    deployment = (
        Deployment.objects.restrict(user)
        .filter(pk=deployment_id, environment=environment)
        .only("pk", "status", "digest")
        .first()
        if deployment_id
        else None
    )
    return {"service": service, "deployment": deployment}


@login_required
def service_logs(request: HttpRequest, name: str, slug: str) -> HttpResponse:
    """Every replica of ``name`` in one environment, merged, each line named by replica."""
    service = get_object_or_404(Service.objects.restrict(request.user), name=name)
    environment = access.get_environment(request.user, LOGS, slug=slug)
    return render(
        request,
        "environments/service_logs.html",
        {"service": service, "environment": environment},
    )

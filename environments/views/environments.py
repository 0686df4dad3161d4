"""Environment pages. Slow parts (the endpoint, the containers) load as fragments so a
dead endpoint never holds up a page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from environments import access, actions, engine
from environments.models import RoleGrant
from environments.roles import ACTION_LABELS, ACTIONS, MANAGE, Role, preset_actions


@login_required
def environment_detail(request: HttpRequest, slug: str) -> HttpResponse:
    environment = access.get_environment(request.user, slug=slug)
    actions_here = access.allowed_actions(request.user, environment)
    return render(
        request,
        "environments/detail.html",
        {
            "environment": environment,
            "actions": actions_here,
            "action_labels": access.action_labels(actions_here),
        },
    )


@login_required
def endpoint_fragment(request: HttpRequest, slug: str) -> HttpResponse:
    environment = access.get_environment(request.user, slug=slug)
    # The last probe; a new one is queued when it is stale and arrives over the status
    # socket. ?cached=1 (a reload after such an update) never queues another.
    if request.GET.get("cached") == "1":
        state = environment.endpoint_state
    else:
        state = actions.request_probe(environment)
    return render(
        request, "environments/_endpoint.html", {"state": state, "environment": environment}
    )


@login_required
def containers_fragment(request: HttpRequest, slug: str) -> HttpResponse:
    environment = access.get_environment(request.user, slug=slug)
    try:
        containers, error = engine.list_containers(environment), ""
    except engine.EngineUnavailable as exc:
        containers, error = [], str(exc)
    return render(
        request,
        "environments/_containers.html",
        {"environment": environment, "containers": containers, "error": error},
    )


def _role_matrix(environment) -> list[dict]:
    return [
        {
            "role": role,
            "actions": [a in preset_actions(role.value, environment.tier) for a in ACTIONS],
        }
        for role in Role
        if role != Role.CUSTOM
    ]


@login_required
def environment_access(request: HttpRequest, slug: str) -> HttpResponse:
    environment = access.get_environment(request.user, MANAGE, slug=slug)
    grants = RoleGrant.objects.filter(environment=environment).select_related(
        "user", "group", "granted_by"
    )
    return render(
        request,
        "environments/access.html",
        {
            "environment": environment,
            "grants": grants,
            "roles": [r for r in Role if r != Role.CUSTOM],
            "action_labels": [ACTION_LABELS[a] for a in ACTIONS],
            "matrix": _role_matrix(environment),
            "groups": Group.objects.order_by("name"),
            "users": get_user_model().objects.filter(is_active=True).order_by("username"),
        },
    )


@login_required
@require_POST
def grant_create(request: HttpRequest, slug: str) -> HttpResponse:
    environment = access.get_environment(request.user, MANAGE, slug=slug)
    principal = request.POST.get("principal", "")
    kind, _, name = principal.partition(":")
    to_user = to_group = None
    if kind == "user":
        to_user = get_user_model().objects.filter(username=name, is_active=True).first()
    elif kind == "group":
        to_group = Group.objects.filter(name=name).first()
    if to_user is None and to_group is None:
        messages.error(request, "Choose a user or a group to grant the role to.")
        return redirect("env-access", slug=slug)
    try:
        grant = actions.grant_role(
            request.user,
            environment,
            role=request.POST.get("role", ""),
            to_user=to_user,
            to_group=to_group,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Granted {grant.get_role_display()} to {grant.principal_name}.")
    return redirect("env-access", slug=slug)


@login_required
@require_POST
def grant_revoke(request: HttpRequest, slug: str, grant_id: int) -> HttpResponse:
    environment = access.get_environment(request.user, MANAGE, slug=slug)
    grant = get_object_or_404(RoleGrant, pk=grant_id, environment=environment)
    actions.revoke_grant(request.user, grant)
    messages.success(request, f"Revoked {grant.get_role_display()} from {grant.principal_name}.")
    return redirect("env-access", slug=slug)

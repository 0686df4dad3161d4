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
from portal.core.listing import Filter, ListSpec

CONTAINER_STATES = ("created", "running", "paused", "restarting", "exited", "dead")
CONTAINERS = ListSpec(
    search=("name", "image", "id", "labels__berth.service"),
    filters=(
        Filter("state", "state", "State", kind="choice"),
        Filter("service", "labels__berth.service", "Service", kind="choice"),
    ),
    sorts={
        "-created": ("Newest first", ("-created",)),
        "name": ("Name", ("name",)),
        "state": ("State", ("state", "name")),
        "service": ("Service", ("labels__berth.service", "name")),
    },
    default_sort="-created",
    page_size=50,
    search_label="Find a container",
)


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
            "star_id": actions.star_ids(request.user)["environment"].get(environment.pk),
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
    """The environment's containers (one engine answer), searched, filtered and sorted
    in memory by :data:`CONTAINERS`, a page at a time; the environment page passes its
    query string on, so a filtered list is a URL like any other."""
    environment = access.get_environment(request.user, slug=slug)
    try:
        containers, error = engine.list_containers(environment), ""
    except engine.EngineUnavailable as exc:
        containers, error = [], str(exc)
    services = sorted({c.labels.get(engine.LABEL_SERVICE, "") for c in containers} - {""})
    states = sorted({c.state for c in containers} | set(CONTAINER_STATES))
    state = CONTAINERS.read(
        request.GET,
        choices={"state": [(s, s) for s in states], "service": [(s, s) for s in services]},
    )
    page = state.paginate(CONTAINERS.apply_rows(containers, state))
    return render(
        request,
        "environments/_containers.html",
        {
            "environment": environment,
            "containers": [_row(c) for c in page.object_list],
            "total": len(containers),
            "page": page,
            "state": state,
            "error": error,
        },
    )


def _row(container) -> dict:
    """A container as its row shows it: the ports it listens on, labels apart."""
    labels = container.labels
    ports = [
        (f"{p['IP']}:{p['PublicPort']}→" if p.get("PublicPort") else "")
        + f"{p.get('PrivatePort', '')}/{p.get('Type', 'tcp')}"
        for p in container.ports
    ]
    note = ""
    if not ports and labels.get(engine.LABEL_PORT):
        # Host networking publishes nothing: the replica listens on the port Berth gave
        # it (the service config's base port plus its slot, passed in ``port_env``).
        ports = [f"{labels[engine.LABEL_PORT]}/tcp"]
        note = "on the host (the port Berth gave this replica)"
    elif not ports:
        note = "host network, port not known" if container.network_mode == "host" else "none"
    return {
        "c": container,
        "ports": ports,
        "ports_note": note,
        "service": labels.get(engine.LABEL_SERVICE, ""),
        "deployment": labels.get(engine.LABEL_DEPLOYMENT, ""),
        "labels": sorted(labels.items()),
    }


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

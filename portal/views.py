"""Portal pages: dashboard, profile with API tokens, audit log."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from environments import access
from environments.models import Environment
from portal.core import tokens
from portal.core.numbers import parse_id
from portal.models import ApiToken


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    environments = list(Environment.objects.restrict(request.user, "view_environment"))
    allowed = access.actions_by_environment(request.user, environments)
    cards = [
        {"environment": env, "actions": access.action_labels(allowed[env.pk])}
        for env in environments
    ]
    return render(request, "portal/dashboard.html", {"cards": cards})


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    new_secret = request.session.pop("new_token_secret", None)
    return render(
        request,
        "portal/profile.html",
        {"tokens": ApiToken.objects.filter(user=request.user), "new_secret": new_secret},
    )


@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    token, secret = tokens.create_token(request.user, request.POST.get("name", ""))
    # Shown once on the next page, then gone: the secret is not stored anywhere.
    request.session["new_token_secret"] = {"name": token.name, "secret": secret}
    return redirect("profile")


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        tokens.revoke_token(request.user, token_id)
    except ApiToken.DoesNotExist:
        messages.error(request, "That token does not exist or was already revoked.")
    else:
        messages.success(request, "Token revoked. Clients using it are refused from now on.")
    return redirect("profile")


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    environments = Environment.objects.restrict(request.user, "view_environment")
    events = access.audit_events(request.user)
    selected = request.GET.get("environment", "")
    if (environment_id := parse_id(selected)) is not None:  # anything else: no filter
        events = events.filter(environment_id=environment_id)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "portal/audit.html",
        {"page": page, "environments": environments, "selected": selected},
    )

"""Portal pages: dashboard, profile with API tokens, audit log."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from environments import access, actions
from environments.models import Environment
from environments.roles import MANAGE, Tier
from portal import help
from portal.core import audit, tokens
from portal.core.listing import Filter, ListSpec
from portal.lists import AUDIT
from portal.models import ApiToken

MENU_ENVIRONMENTS = 200


DASHBOARD = ListSpec(
    search=("name", "slug", "description"),
    filters=(Filter("tier", "tier", "Tier", kind="choice", choices=tuple(Tier.choices)),),
    sorts={"path": ("Promotion path", ("position", "name")), "name": ("Name", ("name",))},
    default_sort="path",
    page_size=24,
    search_label="Find an environment",
)


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The environments one can see, a page at a time, grouped by tier: with a thousand
    of them the page stays the same size (search, tier filter, paging). Starred
    environments and services come first (on the first page, unless searching); the
    tiers below then list the others."""
    user = request.user
    state = DASHBOARD.read(request.GET)
    visible = Environment.objects.restrict(user, "view_environment")
    stars = actions.star_ids(user)
    favourite_environments, favourite_services = [], []
    if not state.active:
        favourite_environments, favourite_services = actions.favourites_of(user)
        visible = visible.exclude(pk__in=[env.pk for env in favourite_environments])
    page = state.paginate(DASHBOARD.apply(visible, state))
    if page.number > 1:
        favourite_environments, favourite_services = [], []
    environments = list(page.object_list)
    allowed = access.actions_by_environment(user, [*favourite_environments, *environments])

    def card(env):
        return {
            "environment": env,
            "actions": access.action_labels(allowed[env.pk]),
            "star_id": stars["environment"].get(env.pk),
        }

    groups: dict[str, list] = {tier: [] for tier in Tier.values}
    for env in environments:
        groups[env.tier].append(card(env))
    return render(
        request,
        "portal/dashboard.html",
        {
            "groups": [(Tier(tier).label, cards) for tier, cards in groups.items() if cards],
            "favourite_cards": [card(env) for env in favourite_environments],
            "favourite_services": [
                {"service": service, "star_id": stars["service"][service.pk]}
                for service in favourite_services
            ],
            "page": page,
            "state": state,
            "can_manage": any(MANAGE in a for a in allowed.values()),
        },
    )


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
    # The environment menu lists the first ones along the path; any other is a URL away
    # (each environment page links to its own audit view).
    menu = list(
        Environment.objects.restrict(request.user, "view_environment").values_list("pk", "name")[
            :MENU_ENVIRONMENTS
        ]
    )
    state = AUDIT.read(request.GET, choices={"environment": menu})
    events = access.audit_events(request.user).select_related("environment")
    page = state.paginate(AUDIT.apply(events, state))
    for event in page.object_list:
        event.changes = audit.readable_details(event.details)
    return render(request, "portal/audit.html", {"page": page, "state": state})


@login_required
def help_page(request: HttpRequest) -> HttpResponse:
    """The README, with an anchor per section: every page's help link points into it."""
    return render(request, "portal/help.html", {"readme": mark_safe(help.readme_html())})  # noqa: S308  (escaped by portal.help)

"""Pages of the registry app: images, the promotion board, sign-off forms."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from environments import access, engine
from environments.roles import Tier
from portal.core.listing import Filter, ListSpec
from registry.board import build_board, sign_off_targets, sign_off_targets_of
from registry.inventory import (
    deployed_images,
    deployed_images_everywhere,
    mark_signed_off,
    promotions_of,
)
from registry.models import Image, Registry, Repository, Tag

IMAGES = ListSpec(
    search=("name", "tags__name", "images__digest"),
    filters=(Filter("registry", "registry__name", "Registry", kind="choice"),),
    sorts={
        "name": ("Name", ("registry__name", "name")),
        "-refreshed": ("Read most recently", ("-refreshed_at", "name")),
    },
    default_sort="name",
    page_size=20,
    search_label="Find a repository, tag or digest",
)

BOARD = ListSpec(
    search=("name", "slug"),
    filters=(Filter("tier", "tier", "Tier", kind="choice", choices=tuple(Tier.choices)),),
    sorts={"path": ("Promotion path", ("position", "name"))},
    default_sort="path",
    page_size=6,
    search_label="Environments (name contains)",
)


@login_required
def image_list(request: HttpRequest) -> HttpResponse:
    registries = list(Registry.objects.restrict(request.user))
    state = IMAGES.read(request.GET, choices={"registry": [(r.name, r.name) for r in registries]})
    repositories = IMAGES.apply(
        Repository.objects.restrict(request.user).select_related("registry"), state
    ).distinct()
    page = state.paginate(repositories.prefetch_related("tags", "images"))
    return render(
        request,
        "registry/images.html",
        {"repositories": page.object_list, "page": page, "state": state, "registries": registries},
    )


@login_required
def image_detail(request: HttpRequest, image_id: int) -> HttpResponse:
    image = get_object_or_404(
        Image.objects.restrict(request.user).select_related("repository__registry"), pk=image_id
    )
    tags = Tag.objects.filter(repository=image.repository, digest=image.digest).values_list(
        "name", flat=True
    )
    running, sign_offs = [], []
    # Every visible environment's engine is asked (once per endpoint): read of each what
    # the engine adapter needs (its Endpoint), and what the page shows, nothing more.
    environments = list(
        access.visible_environments(request.user).only(
            *engine.ENDPOINT_FIELDS, "position", "colour"
        )
    )
    everywhere = deployed_images_everywhere(environments)
    for environment in environments:
        running += [
            (environment, d) for d in everywhere[environment.pk][0]
            if (d.registry.pk, d.repository, d.digest)
            == (image.repository.registry_id, image.repository.name, image.digest)
        ]  # fmt: skip
    # Permissions and the next environment along the path, only where the image runs.
    targets = sign_off_targets_of(request.user, list({env.pk: env for env, _ in running}.values()))
    for environment, item in running:
        target = targets[environment.pk]
        if target is not None and item.signed_off is None:
            sign_offs.append({"source": environment, "target": target, "item": item})
    return render(
        request,
        "registry/image_detail.html",
        {
            "image": image,
            "tags": list(tags),
            "running": running,
            "sign_offs": sign_offs,
            "promotions": promotions_of(image.digest, request.user),
        },
    )


@login_required
def deployed_fragment(request: HttpRequest, slug: str) -> HttpResponse:
    """The digests running in an environment, with a sign-off form for those who may."""
    environment = access.get_environment(request.user, slug=slug)
    try:
        items, error = deployed_images(environment), ""
    except engine.EngineUnavailable as exc:
        items, error = [], str(exc)
    mark_signed_off(environment, items)
    return render(
        request,
        "registry/_deployed.html",
        {
            "environment": environment,
            "items": items,
            "error": error,
            "target": sign_off_targets(request.user, environment),
        },
    )


@login_required
def promotion_board(request: HttpRequest) -> HttpResponse:
    """The board, a few environments (columns) at a time along the path: search and the
    tier filter choose which; the engines of only those are asked."""
    state = BOARD.read(request.GET)
    visible = access.visible_environments(request.user).select_related("registry")
    page = state.paginate(BOARD.apply(visible, state))
    return render(
        request,
        "registry/board.html",
        {"board": build_board(request.user, page.object_list), "page": page, "state": state},
    )

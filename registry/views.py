"""Pages of the registry app: images, the promotion board, sign-off forms."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from environments import access, engine
from registry.board import build_board, sign_off_targets
from registry.inventory import (
    deployed_images,
    deployed_images_everywhere,
    mark_signed_off,
    promotions_of,
)
from registry.models import Image, Registry, Repository, Tag


@login_required
def image_list(request: HttpRequest) -> HttpResponse:
    repositories = (
        Repository.objects.restrict(request.user)
        .select_related("registry")
        .prefetch_related("tags")
        .order_by("registry__name", "name")
    )
    return render(
        request,
        "registry/images.html",
        {"repositories": repositories, "registries": Registry.objects.restrict(request.user)},
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
    environments = list(access.visible_environments(request.user))
    everywhere = deployed_images_everywhere(environments)
    for environment in environments:
        items = [
            d for d in everywhere[environment.pk][0]
            if (d.registry.pk, d.repository, d.digest)
            == (image.repository.registry_id, image.repository.name, image.digest)
        ]  # fmt: skip
        for item in items:
            running.append((environment, item))
            target = sign_off_targets(request.user, environment)
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
    return render(request, "registry/board.html", {"board": build_board(request.user)})

"""What Berth knows of images: tags and digests read from registries, and where each
digest runs or was promoted to.

``refresh_repository`` reconciles the database with the registry (the periodic task
and the "Refresh" button call it); push notifications only speed it up, since the
registry sends them best-effort.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from environments import engine
from environments.models import Environment
from portal.core.events import notify_changed
from portal.core.numbers import parse_id
from portal.core.tasks import dispatch_on_commit
from registry.client import (
    MANIFEST_TYPES,
    USER_AGENT,
    Manifest,
    RegistryClient,
    RegistryError,
    validate_digest,
    validate_repository,
    validate_tag,
)
from registry.models import Image, Promotion, Registry, Repository, Tag

__all__ = [
    "DeployedImage",
    "deployed_images",
    "deployed_images_everywhere",
    "mark_signed_off",
    "mark_signed_off_everywhere",
    "promotions_of",
    "record_image",
    "record_push_events",
    "refresh_registry",
    "refresh_repository",
]

log = logging.getLogger(__name__)


def _metadata(client: RegistryClient, repository: str, manifest: Manifest) -> dict:
    """Size, architectures and build time of a manifest (reads the small config blob)."""
    document = manifest.document
    if manifest.is_index:
        children = manifest.children()
        return {
            "size": sum(int(c.get("size") or 0) for c in children),
            "architectures": sorted(
                {c.get("platform", {}).get("architecture", "") for c in children} - {""}
            ),
            "created": None,
        }
    config = document.get("config") or {}
    size = int(config.get("size") or 0) + sum(
        int(layer.get("size") or 0) for layer in document.get("layers", [])
    )
    architecture, created = "", None
    if config.get("digest"):
        try:
            raw = b"".join(client.download_blob(repository, config["digest"]))
            parsed = json.loads(raw)
            architecture = parsed.get("architecture", "")
            created = parse_datetime(parsed.get("created") or "")
        except (RegistryError, ValueError):
            pass  # metadata is a nicety; the digest is what matters
    return {
        "size": size,
        "architectures": [architecture] if architecture else [],
        "created": created,
    }


def record_image(client: RegistryClient, repository: Repository, digest: str) -> Image:
    """The Image row for ``digest``, reading its metadata the first time it is seen."""
    image = Image.objects.filter(repository=repository, digest=digest).first()
    if image is not None:
        return image
    manifest = client.get_manifest(repository.name, digest)
    meta = _metadata(client, repository.name, manifest)
    image, _ = Image.objects.get_or_create(
        repository=repository, digest=digest, defaults={"media_type": manifest.media_type, **meta}
    )
    return image


def _pusher(event: dict) -> dict:
    """Who pushed, as the registry tells it: its user (when it authenticates pushes),
    the client's address and user agent; printable strings, bounded."""
    actor = event.get("actor") if isinstance(event.get("actor"), dict) else {}
    request = event.get("request") if isinstance(event.get("request"), dict) else {}
    found = {
        "user": actor.get("name"),
        "addr": request.get("addr"),
        "useragent": request.get("useragent"),
    }
    return {
        key: value[:200]
        for key, value in found.items()
        if isinstance(value, str) and value and value.isprintable()
    }


def record_push_events(registry: Registry, events: list) -> int:
    """Record the pushes named by a registry notification: the tag at once, the image's
    metadata by a task (it needs the manifest). Berth's own retags, other actions and
    malformed events are skipped. Returns how many pushes were recorded."""
    recorded = 0
    for event in events[:1000]:
        if not isinstance(event, dict):
            continue
        target = event.get("target") if isinstance(event.get("target"), dict) else {}
        request = event.get("request") if isinstance(event.get("request"), dict) else {}
        if event.get("action") != "push" or target.get("mediaType") not in MANIFEST_TYPES:
            continue
        useragent = request.get("useragent")
        if isinstance(useragent, str) and USER_AGENT in useragent:
            continue
        name, digest, tag = target.get("repository"), target.get("digest"), target.get("tag")
        try:
            # The validators' patterns end in $, which also matches before a final
            # newline: printable strings only, so "team/app\n" is not "team/app".
            for value in (name, digest, *([tag] if tag else [])):
                if not isinstance(value, str):
                    raise ValueError(f"a {type(value).__name__} where a string belongs.")
                if not value.isprintable():
                    raise ValueError(f"{value[:80]!r} is not a printable string.")
            validate_repository(name)
            validate_digest(digest)
            if tag:
                validate_tag(tag)
        except ValueError as exc:
            log.warning("Notification from %s skipped: %s", registry.name, exc)
            continue
        with transaction.atomic():
            repository, _ = Repository.objects.get_or_create(registry=registry, name=name)
            if tag:
                Tag.objects.update_or_create(
                    repository=repository, name=tag, defaults={"digest": digest}
                )
            if not Image.objects.filter(repository=repository, digest=digest).exists():
                dispatch_on_commit("registry.tasks.record_image", repository.pk, digest)
            if tag:  # pipelines with a matching registry_push trigger start (by name: no import)
                dispatch_on_commit(
                    "pipelines.tasks.image_pushed", registry.pk, name, tag, digest, _pusher(event)
                )
        recorded += 1
    if recorded:
        notify_changed(
            Environment.objects.filter(registry=registry).values_list("pk", flat=True), "push"
        )
    return recorded


def refresh_repository(registry: Registry, name: str) -> Repository:
    """Make the repository's tags in the database equal to the registry's."""
    client = RegistryClient.for_registry(registry)
    repository, _ = Repository.objects.get_or_create(registry=registry, name=name)
    seen: dict[str, str] = {}
    for tag in client.tags(name):
        digest = client.resolve(name, tag)
        if digest:
            seen[tag] = digest
            record_image(client, repository, digest)
    with transaction.atomic():
        repository.tags.exclude(name__in=seen).delete()
        for tag, digest in seen.items():
            Tag.objects.update_or_create(
                repository=repository, name=tag, defaults={"digest": digest}
            )
        repository.refreshed_at = timezone.now()
        repository.save(update_fields=["refreshed_at"])
    return repository


def refresh_registry(registry: Registry) -> list[Repository]:
    """Refresh every repository in the registry's catalog."""
    client = RegistryClient.for_registry(registry)
    return [refresh_repository(registry, name) for name in client.catalog()]


@dataclass
class DeployedImage:
    """A digest running in an environment, with the containers that run it."""

    registry: Registry
    repository: str
    digest: str
    containers: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    deployments: list[int] = field(default_factory=list)  # the deployments that started them
    since: datetime | None = None
    signed_off: Promotion | None = None  # already promoted onward from this environment

    @property
    def reference(self) -> str:
        return f"{self.registry.host}/{self.repository}@{self.digest}"


def deployed_images(
    environment: Environment, registries=None, containers=None
) -> list[DeployedImage]:
    """Digests from known registries running in ``environment`` now (one engine call,
    or none when ``containers`` of its endpoint are given), each under the repository
    its containers run from, with the services they run as.

    Raises :class:`environments.engine.EngineUnavailable` when the endpoint is down.
    """
    registries = Registry.objects.all() if registries is None else registries
    by_host = {registry.host: registry for registry in registries}
    found: dict[str, DeployedImage] = {}
    if containers is None:
        containers = engine.list_containers(environment)
    for container in containers:
        if not engine.owns_container(environment, container.labels):
            continue
        if container.state != "running":  # a stopped replica runs nothing to sign off
            continue
        reference = container.image_digest
        if "@" not in reference:
            continue
        name, digest = reference.split("@", 1)
        host, _, repository = name.partition("/")
        registry = by_host.get(host)
        if registry is None:
            continue
        item = found.setdefault(reference, DeployedImage(registry, repository, digest))
        item.containers.append(container.name)
        service = container.labels.get(engine.LABEL_SERVICE)
        if service and service not in item.services:
            item.services.append(service)
        deployment = parse_id(container.labels.get(engine.LABEL_DEPLOYMENT, ""))
        if deployment and deployment not in item.deployments:
            item.deployments.append(deployment)
    return list(found.values())


def mark_signed_off(environment: Environment, items: list[DeployedImage]) -> None:
    """Set ``signed_off`` on the items already promoted onward from ``environment``, so
    they are marked rather than offered again (one query)."""
    mark_signed_off_everywhere([environment], {environment.pk: (items, "")})


def _endpoint_key(environment: Environment) -> tuple:
    return (
        environment.endpoint_url,
        environment.tls_ca_cert,
        environment.tls_client_cert,
        environment.tls_client_key,
    )


def deployed_images_everywhere(environments) -> dict[int, tuple[list[DeployedImage], str]]:
    """``{environment id: (deployed images, error)}``. Each endpoint is asked once, however
    many environments share it, and all endpoints at once: a hung endpoint costs its own
    environments its timeout, not the others theirs too. Two queries in all."""
    environments = list(environments)
    registries = list(Registry.objects.all())
    groups: dict[tuple, list[Environment]] = {}
    for environment in environments:
        groups.setdefault(_endpoint_key(environment), []).append(environment)

    def one(group):
        try:
            return group, engine.list_containers(group[0], every_owner=True), ""
        except engine.EngineUnavailable as exc:
            return group, None, str(exc)

    found: dict[int, tuple[list[DeployedImage], str]] = {}
    if not environments:
        return found
    with ThreadPoolExecutor(max_workers=min(len(groups), 8)) as pool:
        for group, containers, error in pool.map(one, groups.values()):
            for environment in group:
                items = [] if error else deployed_images(environment, registries, containers)
                found[environment.pk] = (items, error)
    mark_signed_off_everywhere(environments, found)
    return found


def mark_signed_off_everywhere(environments, found) -> None:
    """:func:`mark_signed_off` for many environments (``found`` as
    :func:`deployed_images_everywhere` returns it) in one query."""
    digests = {item.digest for items, _ in found.values() for item in items}
    if not digests:
        return
    promotions = (
        Promotion.objects.signed_off_from_any([env.pk for env in environments])
        .filter(digest__in=digests)
        .select_related("target_environment", "actor")
        .order_by("started_at")
    )
    by_reference = {
        (p.source_environment_id, p.source_registry_id, p.source_repository, p.digest): p
        for p in promotions
    }
    for environment in environments:
        for item in found[environment.pk][0]:
            item.signed_off = by_reference.get(
                (environment.pk, item.registry.pk, item.repository, item.digest)
            )


def promotions_of(digest: str, user) -> list[Promotion]:
    """The promotion history of a digest, as far as ``user`` may see."""
    return list(
        Promotion.objects.restrict(user)
        .filter(digest=digest)
        .select_related("source_environment", "target_environment", "actor", "target_registry")
        .order_by("started_at")
    )

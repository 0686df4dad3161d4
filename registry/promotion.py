"""Promotion: a digest leaves one environment for the next by retagging, never rebuilding.

``promote()`` is the one way in, for the browser, the API and pipelines. Refusals
(permission, lifecycle, bad input, an immutable tag) are raised before anything is
recorded or written. Once the checks pass, a Promotion row exists before the first
registry call and ends as succeeded or failed, with its log.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from environments import access, engine
from environments.models import Deployment, Environment
from environments.roles import PROMOTE
from portal.core import audit
from portal.core.events import notify_changed
from portal.core.tasks import dispatch_on_commit
from registry.client import (
    Manifest,
    RegistryClient,
    RegistryError,
    validate_digest,
    validate_repository,
    validate_tag,
)
from registry.inventory import deployed_images
from registry.models import Promotion, Registry, Repository, Tag, TagLock
from registry.transfer import copy_image

__all__ = ["PromotionRefused", "promote", "run_promotion", "was_in_environment"]

log = logging.getLogger(__name__)


class PromotionRefused(ValidationError):
    """The promotion may not happen as asked; nothing was recorded or written."""


def was_in_environment(
    environment: Environment, registry: Registry, repository: str, digest: str
) -> bool:
    """Whether ``repository@digest`` was promoted into, or deployed to, ``environment``.

    Recorded promotions and deployments come first (a query); containers running there
    now, deployed by other means, count too. An unreachable endpoint gives no evidence.
    """
    promoted = Promotion.objects.succeeded_into(environment, registry, repository, digest).exists()
    if promoted:
        return True
    deployed = Deployment.objects.succeeded().filter(
        environment=environment, service__registry=registry, service__repository=repository,
        digest=digest,
    ).exists()  # fmt: skip
    if deployed:
        return True
    try:
        running = deployed_images(environment)
    except engine.EngineUnavailable:
        return False
    return any(
        (item.registry.pk, item.repository, item.digest) == (registry.pk, repository, digest)
        for item in running
    )


def _plan(
    source: Environment, repository: str, digest: str, version: str, target: Environment | None
):
    """Check the request; returns (target, source registry, target registry, target repo, tags)."""
    try:
        validate_repository(repository)
    except ValueError as exc:
        raise PromotionRefused({"repository": str(exc)}) from None
    try:
        validate_digest(digest)
    except ValueError as exc:
        raise PromotionRefused({"digest": str(exc)}) from None
    following = source.next_environment()
    if following is None:
        raise PromotionRefused(f"{source.name} is the last environment on the promotion path.")
    if target is not None and target.pk != following.pk:
        raise PromotionRefused(
            {
                "target": f"Promotion goes one step at a time: from {source.name} only to {following.name}."
            }
        )
    target = following
    if source.registry is None:
        raise PromotionRefused(
            f"{source.name} has no registry configured; an administrator sets one."
        )
    target_registry = target.registry or source.registry
    target_repository = target.repository_template.replace("{repository}", repository)
    try:
        validate_repository(target_repository)
    except ValueError as exc:
        raise PromotionRefused(f"{target.name}'s repository template gives {exc}") from None
    tags = []
    if target.promotion_tag:
        tags.append(target.promotion_tag)
    if version:
        try:
            tags.append(validate_tag(version))
        except ValueError as exc:
            raise PromotionRefused({"version": str(exc)}) from None
    elif target.require_version:
        raise PromotionRefused({"version": f"{target.name} needs a version tag, e.g. 1.4.2."})
    if not tags:
        raise PromotionRefused(
            f"{target.name} has no promotion tag configured and no version was given."
        )
    return target, source.registry, target_registry, target_repository, tags


def promote(
    user,
    *,
    source: Environment,
    repository: str,
    digest: str,
    version: str = "",
    note: str = "",
    target: Environment | None = None,
) -> Promotion:
    """Promote ``repository@digest`` from ``source`` to the next environment.

    Needs ``promote_from_environment`` on ``source``; the digest must have been deployed
    to or promoted into ``source``. Writes the target's moving tag and/or the version
    tag; a version tag that already points at another digest is refused (release tags
    are immutable). Returns the finished Promotion (succeeded or failed).
    """
    access.require(user, source, PROMOTE)
    version = version.strip()
    target, source_registry, target_registry, target_repository, tags = _plan(
        source, repository, digest, version, target
    )
    earlier = (
        Promotion.objects.signed_off_from(source)
        .filter(
            target_environment=target, source_registry=source_registry,
            source_repository=repository, digest=digest,
        )
        .select_related("actor").order_by("-finished_at").first()
    )  # fmt: skip
    if earlier is not None and (not version or version in earlier.tags):
        raise PromotionRefused(
            f"{repository}@{digest[:19]}… was already signed off into {target.name} "
            f"(#{earlier.pk} by {earlier.actor.username if earlier.actor else 'someone'}): "
            "nothing to do. Give a new version to add a release tag."
        )
    if not was_in_environment(source, source_registry, repository, digest):
        raise PromotionRefused(
            f"{repository}@{digest[:19]}… was never deployed to or promoted into {source.name}: "
            f"only what ran in {source.name} can leave it."
        )
    source_client = RegistryClient.for_registry(source_registry)
    target_client = RegistryClient.for_registry(target_registry)
    if version:
        current = _resolve_or_refuse(target_client, target_repository, version)
        if current and current != digest:
            raise PromotionRefused(
                {
                    "version": f"{target_repository}:{version} already points at {current[:19]}…; "
                    "release tags are immutable, choose a new version."
                }
            )

    promotion = Promotion.objects.create(
        digest=digest, source_environment=source, target_environment=target,
        source_registry=source_registry, source_repository=repository,
        target_registry=target_registry, target_repository=target_repository,
        tags=tags, version=version, note=note.strip(), actor=user,
    )  # fmt: skip
    if promotion.copies_blobs:
        # Blobs move between repositories or registries: that may take long, so it runs
        # as a task on the record (status, log) and the caller answers 202.
        _step(promotion, "queued: the image is copied into the target repository first")
        promotion.save(update_fields=["log"])
        dispatch_on_commit("registry.tasks.run_promotion", promotion.pk)
        return promotion
    return run_promotion(promotion, source_client, target_client)


def run_promotion(
    promotion: Promotion,
    source_client: RegistryClient | None = None,
    target_client: RegistryClient | None = None,
) -> Promotion:
    """Copy (if needed) and retag for a running ``promotion``; finishes the record."""
    if promotion.status != Promotion.Status.RUNNING:
        return promotion  # a redelivered task: already done
    source_client = source_client or RegistryClient.for_registry(promotion.source_registry)
    target_client = target_client or RegistryClient.for_registry(promotion.target_registry)
    user = promotion.actor
    try:
        _retag(promotion, source_client, target_client, promotion.tags)
    except RegistryError as exc:
        return _finish(promotion, user, Promotion.Status.FAILED, error=str(exc))
    except PromotionRefused as exc:
        return _finish(promotion, user, Promotion.Status.FAILED, error=" ".join(exc.messages))
    return _finish(promotion, user, Promotion.Status.SUCCEEDED)


def _resolve_or_refuse(client: RegistryClient, repository: str, reference: str) -> str | None:
    try:
        return client.resolve(repository, reference)
    except RegistryError as exc:
        raise PromotionRefused(str(exc)) from None


def _step(promotion: Promotion, message: str) -> None:
    promotion.log.append({"at": timezone.now().isoformat(), "message": message})


def _retag(
    promotion: Promotion, source: RegistryClient, target: RegistryClient, tags: list[str]
) -> None:
    repository, digest = promotion.source_repository, promotion.digest
    if not promotion.copies_blobs:
        manifest = source.get_manifest(repository, digest)
        _step(promotion, f"read manifest {digest[:19]}… ({manifest.media_type})")
    else:
        manifest, report = copy_image(
            source, repository, digest, target, promotion.target_repository
        )
        _step(
            promotion,
            f"copied into {target.host}/{promotion.target_repository}: {len(report.mounted)} blobs mounted, "
            f"{len(report.streamed)} streamed ({report.bytes_streamed} bytes), "
            f"{len(report.present)} already there",
        )
    # The moving tag first: if a later tag fails, it can be put back where it was.
    ordered = sorted(tags, key=lambda tag: tag == promotion.version)
    written: list[tuple[str, str | None]] = []
    try:
        for tag in ordered:
            previous = _write_tag(promotion, target, tag, manifest)
            written.append((tag, previous))
    except (RegistryError, PromotionRefused):
        _restore(promotion, target, written)
        raise


def _write_tag(
    promotion: Promotion, client: RegistryClient, tag: str, manifest: Manifest
) -> str | None:
    """Lock (registry, repository, tag), re-check, PUT, verify. Returns the previous digest."""
    repository = promotion.target_repository
    with transaction.atomic():
        lock, _ = TagLock.objects.get_or_create(
            registry=promotion.target_registry, repository=repository, tag=tag
        )
        TagLock.objects.select_for_update().get(pk=lock.pk)
        previous = client.resolve(repository, tag)
        if tag == promotion.version and previous and previous != manifest.digest:
            raise PromotionRefused(
                f"{repository}:{tag} was just set to {previous[:19]}… by someone else."
            )
        client.put_manifest(repository, tag, manifest)
        landed = client.resolve(repository, tag)
        if landed != manifest.digest:
            raise RegistryError(
                client.name,
                f"verify {repository}:{tag}",
                f"it resolves to {landed}, not {manifest.digest}",
            )
    _step(
        promotion,
        f"tagged {client.host}/{repository}:{tag} → {manifest.digest[:19]}… (was {previous[:19] + '…' if previous else 'absent'})",
    )
    return previous


def _restore(
    promotion: Promotion, client: RegistryClient, written: list[tuple[str, str | None]]
) -> None:
    """Put tags written by this promotion back to their previous digest."""
    for tag, previous in reversed(written):
        if previous is None:
            _step(
                promotion,
                f"could not remove new tag {tag}: the registry API cannot delete a tag alone",
            )
            continue
        try:
            client.put_manifest(
                promotion.target_repository,
                tag,
                client.get_manifest(promotion.target_repository, previous),
            )
            _step(promotion, f"restored {tag} → {previous[:19]}…")
        except RegistryError as exc:
            _step(promotion, f"could not restore {tag}: {exc}")


@transaction.atomic
def _finish(promotion: Promotion, user, status: str, error: str = "") -> Promotion:
    promotion.status = status
    promotion.error = error
    promotion.finished_at = timezone.now()
    if error:
        _step(promotion, f"failed: {error}")
    promotion.save()
    if status == Promotion.Status.SUCCEEDED:
        _record_tags(promotion)
        notify_changed(
            [promotion.source_environment_id, promotion.target_environment_id], "promotion"
        )
    audit.record(
        user,
        f"promotion.{status}",
        promotion,
        environment=promotion.source_environment,
        details={
            "digest": promotion.digest,
            "from": f"{promotion.source_registry.host}/{promotion.source_repository}",
            "to": promotion.target_reference,
            "target_environment": promotion.target_environment.name,
            "tags": promotion.tags,
            "note": promotion.note,
            "error": error,
        },
    )
    return promotion


def _record_tags(promotion: Promotion) -> None:
    repository, _ = Repository.objects.get_or_create(
        registry=promotion.target_registry, name=promotion.target_repository
    )
    for tag in promotion.tags:
        Tag.objects.update_or_create(
            repository=repository, name=tag, defaults={"digest": promotion.digest}
        )

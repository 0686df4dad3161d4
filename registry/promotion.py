"""Promotion: a digest leaves one environment for the next by retagging, never rebuilding.

``promote()`` is the one way in, for the browser, the API and pipelines. Refusals
(permission, lifecycle, bad input, an immutable tag) record nothing and write nothing.
Once the checks pass, a Promotion row exists before the first registry write and ends
as succeeded or failed, with its log.

A retag in place (same registry and repository, the usual Test → Ops sign-off) is one
database transaction: the tags' locks are taken, every tag's current digest is read
under them (the reads run while the sign-off and evidence queries ask the database and
the record is created), a version tag found pointing at another digest is refused (the transaction rolls back: nothing recorded), then the
tags are written and the record finished before the commit releases the locks. Two
promotions of the same tags wait for each other, so the immutability check and the
write cannot be overtaken. On PostgreSQL the locks are rows (``TagLock``) taken in tag
order (no deadlock); on SQLite the transaction itself is the lock: it begins
``IMMEDIATE`` (settings), holding the database's write lock until it ends, so
promotions run one after the other. The manifest is read by digest from the start,
before the locks: a digest names its bytes, so no lock can change what it reads. A
tag already pointing at the digest is not written again. When no record shows the
digest in the source environment, its engine is asked outside the locks (it may take
seconds), and the locks are taken again.
A crash between a write and the commit leaves a tag written and no record: that is
the fail-closed side, since a protected environment (Ops) deploys only a digest with a
*succeeded* record (``Promotion.objects.succeeded_into``), never by what a tag says.

Writes go one at a time, the moving tag first and the version tag last, and are not
run at the same time although that would save one registry round trip. The reason is
what a failure leaves behind. The registry API cannot delete a tag alone (only a
manifest, with every tag on it), so a new tag cannot be taken back. Written in
parallel, a failed moving-tag write beside a successful version write would leave a
new release tag, immutable by Berth's rule, naming a digest whose promotion failed:
anyone pulling ``repo:1.4.2`` would get what nobody signed off. Written in order, a
failure of the moving tag writes nothing, and a failure of the version tag puts the
moving tag back where it was; the release tag exists only once everything before it
landed. (A moving tag that was new cannot be removed either; it is logged as such.)

A write is verified by the digest the registry answers it with (``Docker-Content-Digest``
of the PUT: what it stored at the tag), or by reading the tag back when it sends none.
A promotion into another repository or registry copies blobs first, which may take
long: it is recorded, its version looked up, and it runs as a task on the record,
which then takes the same locks and writes the same way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial

from django.core.exceptions import ValidationError
from django.db import connection, transaction
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


# Registry calls of promotions run beside the request's own thread: reads, and the last
# tag write. They touch no database; a promotion has at most three at once (its
# manifest, its two tags).
_registry_calls = ThreadPoolExecutor(max_workers=6, thread_name_prefix="berth-registry")


def _start(call: Callable, *args) -> Future:
    """Run ``call(*args)`` on a registry thread; return once it has started.

    A thread handed work needs the GIL to begin it, and the request's thread, going on
    with Python (building its next query), held it until its next database call or
    the interpreter's switch interval (5 ms): calls started up to 2 ms late, measured.
    Waiting here for the call to start lets it run until its request is on the wire
    (the socket write releases the GIL), then the request's thread goes on.
    """
    started = threading.Event()

    def run():
        started.set()
        return call(*args)

    future = _registry_calls.submit(run)
    started.wait()
    return future


def _results(reads: list[Future]) -> list:
    """The results of reads started with :func:`_start`, in order. Every read has
    ended when this returns or raises (the first failure, in order)."""
    results, failure = [], None
    for read in reads:
        try:
            results.append(read.result())
        except Exception as exc:  # noqa: BLE001 - re-raised below once all have ended
            failure = failure or exc
    if failure is not None:
        raise failure
    return results


def was_in_environment(
    environment: Environment, registry: Registry, repository: str, digest: str
) -> bool:
    """Whether ``repository@digest`` was promoted into, or deployed to, ``environment``.

    Recorded promotions and deployments come first; containers running there now,
    deployed by other means, count too. An unreachable endpoint gives no evidence.
    """
    return _recorded_in(environment, registry, repository, digest) or _running_in(
        environment, registry, repository, digest
    )


def _recorded_in(environment, registry, repository: str, digest: str) -> bool:
    """Whether a succeeded promotion into, or deployment to, ``environment`` ran the digest.

    Two plain queries, the second only when the first finds nothing: the same answer as
    one query with two EXISTS annotations, which Django takes longer to build than the
    database takes to answer both (it copies and relabels every subquery)."""
    promoted = Promotion.objects.succeeded_into(environment, registry, repository, digest)
    if promoted.exists():
        return True
    deployed = Deployment.objects.succeeded().filter(
        environment=environment, service__registry=registry, service__repository=repository,
        digest=digest,
    )  # fmt: skip
    return deployed.exists()


def _running_in(environment, registry, repository: str, digest: str) -> bool:
    try:
        running = deployed_images(environment)
    except engine.EngineUnavailable:
        return False
    return any(
        (item.registry.pk, item.repository, item.digest) == (registry.pk, repository, digest)
        for item in running
    )


def _latest_sign_off(
    source: Environment, target: Environment, registry: Registry, repository: str, digest: str
) -> tuple[int | None, list[str]]:
    """The id and tags of the latest sign-off of this digest from source into target, or
    ``(None, [])``."""
    row = (
        Promotion.objects.signed_off_from(source)
        .filter(
            target_environment=target, source_registry=registry, source_repository=repository,
            digest=digest,
        )
        .order_by("-finished_at", "-pk")
        .values_list("pk", "tags")
        .first()
    )  # fmt: skip
    return (row[0], row[1] or []) if row else (None, [])


def _refuse_signed_off(
    source: Environment, target: Environment, registry: Registry, repository: str, digest: str,
    version: str,
) -> bool:  # fmt: skip
    """Refuse a sign-off made already (no new version to tag); return whether the digest
    was signed off from ``source`` before, which is evidence that it was in ``source``
    (that promotion checked it)."""
    earlier_pk, earlier_tags = _latest_sign_off(source, target, registry, repository, digest)
    if earlier_pk is not None and (not version or version in earlier_tags):
        earlier = Promotion.objects.select_related("actor").get(pk=earlier_pk)
        raise PromotionRefused(
            f"{repository}@{digest[:19]}… was already signed off into {target.name} "
            f"(#{earlier.pk} by {earlier.actor.username if earlier.actor else 'someone'}): "
            "nothing to do. Give a new version to add a release tag."
        )
    return earlier_pk is not None


def _refuse_never_in(source: Environment, repository: str, digest: str):
    raise PromotionRefused(
        f"{repository}@{digest[:19]}… was never deployed to or promoted into {source.name}: "
        f"only what ran in {source.name} can leave it."
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
    are immutable). Returns the finished Promotion (succeeded or failed), or, when the
    image must be copied first, the running one whose task does that.
    """
    access.require(user, source, PROMOTE)
    version = version.strip()
    target, source_registry, target_registry, target_repository, tags = _plan(
        source, repository, digest, version, target
    )
    source_client = RegistryClient.for_registry(source_registry)
    target_client = (
        source_client
        if target_registry.pk == source_registry.pk
        else RegistryClient.for_registry(target_registry)
    )
    copies = (source_registry.pk, repository) != (target_registry.pk, target_repository)
    # Reads only, started now so that they run while the database is asked below. The
    # manifest by digest needs no lock (a digest names its bytes); a retag in place
    # looks its tags up under their locks, a copy looks its version up now, since the
    # copy runs later as a task and a taken version must be refused before that.
    manifest_read = None if copies else _start(source_client.get_manifest, repository, digest)
    version_read = (
        _start(target_client.resolve, target_repository, version) if copies and version else None
    )
    check_sign_off = partial(_refuse_signed_off, source, target, source_registry, repository, digest, version)  # fmt: skip
    record = partial(
        Promotion.objects.create,
        digest=digest, source_environment=source, target_environment=target,
        source_registry=source_registry, source_repository=repository,
        target_registry=target_registry, target_repository=target_repository,
        tags=tags, version=version, note=note.strip(), actor=user,
    )  # fmt: skip
    if copies:
        # Blobs move between repositories or registries: that may take long, so it runs
        # as a task on the record (status, log) and the caller answers 202.
        if not check_sign_off() and not was_in_environment(
            source, source_registry, repository, digest
        ):
            _refuse_never_in(source, repository, digest)
        if version_read is not None:
            current = _resolved_or_refuse(version_read)
            _refuse_taken_version(target_repository, version, current, digest)
        promotion = record()
        _step(promotion, "queued: the image is copied into the target repository first")
        promotion.save(update_fields=["log"])
        dispatch_on_commit("registry.tasks.run_promotion", promotion.pk)
        return promotion
    # A retag in place: the tags' locks, the checks, the record, the writes and the
    # finished record in one transaction; the tags are read under the locks while the
    # database is asked. A refusal (signed off already, a tag taken) leaves the
    # transaction, so nothing is recorded and nothing written.
    ordered = _in_writing_order(tags, version)
    seen_running = False
    while True:
        with transaction.atomic():
            current = _lock_and_read(target_registry, target_client, target_repository, ordered)
            try:
                signed_off = check_sign_off()
            except PromotionRefused:
                _results_or_none(current)
                raise
            if signed_off or seen_running or _recorded_in(source, source_registry, repository, digest):  # fmt: skip
                promotion = record()
                try:
                    manifest = manifest_read.result()
                except RegistryError as exc:
                    _results_or_none(current)
                    return _finish(promotion, user, Promotion.Status.FAILED, error=str(exc))
                _step(promotion, f"read manifest {digest[:19]}… ({manifest.media_type})")
                _write_tags(promotion, target_client, ordered, manifest, current)
                return promotion
        # No record shows the digest in source: its engine is asked, outside the locks
        # (an engine may take seconds to answer), and the locks are taken again.
        _results_or_none(current)
        if not _running_in(source, source_registry, repository, digest):
            _refuse_never_in(source, repository, digest)
        seen_running = True


def run_promotion(
    promotion: Promotion,
    source_client: RegistryClient | None = None,
    target_client: RegistryClient | None = None,
) -> Promotion:
    """Copy into the target repository, then retag, for a running ``promotion`` (the
    task of a promotion that moves blobs); finishes the record."""
    if promotion.status != Promotion.Status.RUNNING:
        return promotion  # a redelivered task: already done
    source_client = source_client or RegistryClient.for_registry(promotion.source_registry)
    target_client = target_client or RegistryClient.for_registry(promotion.target_registry)
    user = promotion.actor
    try:
        manifest, report = copy_image(
            source_client, promotion.source_repository, promotion.digest,
            target_client, promotion.target_repository,
        )  # fmt: skip
        _step(
            promotion,
            f"copied into {target_client.host}/{promotion.target_repository}: "
            f"{len(report.mounted)} blobs mounted, {len(report.streamed)} streamed "
            f"({report.bytes_streamed} bytes), {len(report.present)} already there",
        )
        ordered = _in_writing_order(promotion.tags, promotion.version)
        with transaction.atomic():
            current = _lock_and_read(
                promotion.target_registry, target_client, promotion.target_repository, ordered
            )
            _write_tags(promotion, target_client, ordered, manifest, current)
    except RegistryError as exc:
        return _finish(promotion, user, Promotion.Status.FAILED, error=str(exc))
    except PromotionRefused as exc:  # the record exists already: it ends as failed
        return _finish(promotion, user, Promotion.Status.FAILED, error=" ".join(exc.messages))
    return promotion  # finished by _write_tags, under the tags' locks


def _resolved_or_refuse(read: Future) -> str | None:
    try:
        return read.result()
    except RegistryError as exc:
        raise PromotionRefused(str(exc)) from None


def _refuse_taken_version(repository: str, version: str, current: str | None, digest: str):
    if current and current != digest:
        raise PromotionRefused(
            {
                "version": f"{repository}:{version} already points at {current[:19]}…; "
                "release tags are immutable, choose a new version."
            }
        )


def _step(promotion: Promotion, message: str) -> None:
    promotion.log.append({"at": timezone.now().isoformat(), "message": message})


def _in_writing_order(tags: list[str], version: str) -> list[str]:
    """The moving tag first, the version tag last (see the module's docstring)."""
    return sorted(tags, key=lambda tag: tag == version)


def _lock_and_read(
    registry: Registry, client: RegistryClient, repository: str, tags: list[str]
) -> list[Future]:
    """Take the tags' locks, held until the caller's transaction ends, then start
    reading the tags' current digests under them, all at once."""
    _lock_tags(registry, repository, tags)
    return [_start(client.resolve, repository, tag) for tag in tags]


def _results_or_none(reads: list[Future]) -> list | None:
    try:
        return _results(reads)
    except RegistryError:
        return None


def _write_tags(
    promotion: Promotion,
    client: RegistryClient,
    ordered: list[str],
    manifest: Manifest,
    current_reads: list[Future],
) -> None:
    """Check the tags, write them, finish: in the caller's transaction, under the tags'
    locks taken by :func:`_lock_and_read` (whose reads are ``current_reads``).

    A version tag pointing at another digest raises PromotionRefused out of the
    transaction. A tag already at the digest is not written again. Writes go one at a
    time, in ``ordered`` (the moving tag first, see the module's docstring); if one
    fails, the tags written are put back where they were, still under the locks, and
    the promotion is finished as failed; on success as succeeded. Either way the record
    is finished before the locks are released, in the same commit.

    While the last write runs, the record is finished as succeeded in a savepoint (its
    status, Berth's tag rows, the audit event): the database's part of a promotion
    then costs no time of its own. If the write fails, the savepoint is rolled back
    and the promotion finished as failed instead; nothing was visible meanwhile.
    """
    repository = promotion.target_repository
    user = promotion.actor
    with transaction.atomic(savepoint=False):
        try:
            current = _results(current_reads)
        except RegistryError as exc:
            _finish(promotion, user, Promotion.Status.FAILED, error=str(exc))
            return
        if promotion.version:
            _refuse_taken_version(
                repository, promotion.version, current[ordered.index(promotion.version)],
                manifest.digest,
            )  # fmt: skip
        to_write = [
            tag for tag, now in zip(ordered, current, strict=True) if now != manifest.digest
        ]
        written: list[tuple[str, str | None]] = []
        try:
            for tag, previous in zip(ordered, current, strict=True):
                if tag not in to_write:
                    _step(
                        promotion,
                        f"{client.host}/{repository}:{tag} already points at {manifest.digest[:19]}…",
                    )
                    continue
                if tag == to_write[-1]:
                    _finish_while_writing(promotion, client, tag, previous, manifest)
                    return
                _write_tag(client, repository, tag, manifest)
                written.append((tag, previous))
                _step(promotion, _tagged(client, repository, tag, manifest, previous))
        except RegistryError as exc:
            _restore(promotion, client, written)
            _finish(promotion, user, Promotion.Status.FAILED, error=str(exc))
            return
        _finish(promotion, user, Promotion.Status.SUCCEEDED)  # nothing needed writing


def _tagged(client, repository: str, tag: str, manifest: Manifest, previous: str | None) -> str:
    was = previous[:19] + "…" if previous else "absent"
    return f"tagged {client.host}/{repository}:{tag} → {manifest.digest[:19]}… (was {was})"


def _finish_while_writing(
    promotion: Promotion, client: RegistryClient, tag: str, previous: str | None, manifest
) -> None:
    """Write the last tag in a thread while the record is finished as succeeded in a
    savepoint; a failed write rolls the savepoint back and raises (see _write_tags)."""
    repository = promotion.target_repository
    landing = _start(_write_tag, client, repository, tag, manifest)
    steps = len(promotion.log)
    try:
        with transaction.atomic():
            _step(promotion, _tagged(client, repository, tag, manifest, previous))
            _finish_now(promotion, promotion.actor, Promotion.Status.SUCCEEDED, "")
            landing.result()
    except BaseException:
        landing.exception()  # the write has ended, whatever happened here
        del promotion.log[steps:]
        promotion.status, promotion.finished_at = Promotion.Status.RUNNING, None
        raise


def _lock_tags(registry: Registry, repository: str, tags: list[str]) -> None:
    """Hold the lock rows of ``tags`` until the transaction ends, in one order (by tag
    name), so that two promotions of the same tags wait for each other and never
    deadlock: rows missing are inserted (and so held), then all are read FOR UPDATE.

    Not on SQLite: there the transaction began ``IMMEDIATE`` and holds the database's
    write lock already, which no other writer passes until it ends."""
    if connection.vendor == "sqlite":
        return
    TagLock.objects.bulk_create(
        [TagLock(registry=registry, repository=repository, tag=tag) for tag in sorted(tags)],
        ignore_conflicts=True,
    )
    locked = TagLock.objects.select_for_update().filter(
        registry=registry, repository=repository, tag__in=tags
    )
    list(locked.order_by("tag").values_list("pk", flat=True))


def _write_tag(client: RegistryClient, repository: str, tag: str, manifest: Manifest) -> None:
    """PUT ``manifest`` at ``tag`` and check that the tag now points at it: by the digest
    the registry answers the PUT with, or, when it sends none, by reading the tag."""
    landed = client.put_manifest(repository, tag, manifest) or client.resolve(repository, tag)
    if landed != manifest.digest:
        raise RegistryError(
            client.name,
            f"verify {repository}:{tag}",
            f"it resolves to {landed}, not {manifest.digest}",
        )


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


def _finish(promotion: Promotion, user, status: str, error: str = "") -> Promotion:
    with transaction.atomic(savepoint=False):  # inside _write_tags' transaction: no savepoint
        return _finish_now(promotion, user, status, error)


def _finish_now(promotion: Promotion, user, status: str, error: str) -> Promotion:
    promotion.status = status
    promotion.error = error
    promotion.finished_at = timezone.now()
    if error:
        _step(promotion, f"failed: {error}")
    promotion.save(update_fields=["status", "error", "finished_at", "log"])
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
    Tag.objects.bulk_create(
        [Tag(repository=repository, name=tag, digest=promotion.digest) for tag in promotion.tags],
        update_conflicts=True,
        unique_fields=["repository", "name"],
        update_fields=["digest", "updated_at"],
    )

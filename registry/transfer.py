"""Copying an image, by digest, into another repository or registry without changing it.

Within one registry, blobs are mounted (no bytes move); across registries they are
streamed chunk by chunk from one to the other. Child manifests of an index are pushed
by digest before the index, so every reference the index holds exists when it lands.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from registry.client import Manifest, RegistryClient

__all__ = ["CopyReport", "copy_image"]


@dataclass
class CopyReport:
    """What a copy did, for the promotion's log."""

    mounted: list[str] = field(default_factory=list)
    streamed: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    bytes_streamed: int = 0
    manifests: list[str] = field(default_factory=list)


def copy_image(
    source: RegistryClient,
    source_repository: str,
    digest: str,
    target: RegistryClient,
    target_repository: str,
    report: CopyReport | None = None,
) -> tuple[Manifest, CopyReport]:
    """Make ``target_repository@digest`` exist with the very same manifest bytes."""
    report = report or CopyReport()
    manifest = source.get_manifest(source_repository, digest)
    if target.resolve(target_repository, digest) == digest:
        report.present.append(digest)
        return manifest, report
    for child in manifest.children():
        copy_image(source, source_repository, child["digest"], target, target_repository, report)
    same_registry = source.base_url == target.base_url
    for blob in manifest.blobs():
        blob_digest = blob["digest"]
        if target.blob_exists(target_repository, blob_digest):
            report.present.append(blob_digest)
        elif same_registry and target.mount_blob(target_repository, blob_digest, source_repository):
            report.mounted.append(blob_digest)
        else:
            target.upload_blob(
                target_repository, blob_digest, source.download_blob(source_repository, blob_digest)
            )
            report.streamed.append(blob_digest)
            report.bytes_streamed += int(blob.get("size") or 0)
    target.put_manifest(target_repository, digest, manifest)
    report.manifests.append(digest)
    return manifest, report

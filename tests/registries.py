"""Extra real registries (the Distribution ``docker-registry`` binary) for tests: a
second registry to copy between, one with htpasswd Basic auth, one that notifies."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path

import bcrypt
import requests

from registry.client import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, Manifest, RegistryClient
from tests.stack import free_port


class LocalRegistry:
    def __init__(
        self,
        workdir: Path,
        *,
        users: dict[str, str] | None = None,
        notify: dict | None = None,
        auth: str | None = None,
    ):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = [
            "version: 0.1",
            "log: {level: warn}",
            f"storage: {{filesystem: {{rootdirectory: {workdir}/data}}, delete: {{enabled: true}}}}",
            f"http: {{addr: 127.0.0.1:{self.port}}}",
        ]
        if users:
            htpasswd = workdir / "htpasswd"
            htpasswd.write_text(
                "".join(
                    f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
                    for user, pw in users.items()
                )
            )
            config.append(f"auth: {{htpasswd: {{realm: berth-test, path: {htpasswd}}}}}")
        if auth:
            config.append(auth)
        if notify:
            config.append("notifications:\n  endpoints:\n    - " + json.dumps(notify))
        (workdir / "config.yml").write_text("\n".join(config) + "\n")
        self.process: subprocess.Popen | None = None

    def start(self) -> LocalRegistry:
        log = open(self.workdir / "registry.log", "w")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            ["docker-registry", "serve", str(self.workdir / "config.yml")], stdout=log, stderr=log
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/v2/", timeout=1).status_code in (200, 401):
                    return self
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError((self.workdir / "registry.log").read_text())

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=10)


def _blob(client: RegistryClient, repository: str, data: bytes) -> dict:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    if not client.blob_exists(repository, digest):
        client.upload_blob(repository, digest, iter([data]))
    return {"digest": digest, "size": len(data)}


def push_image(
    client: RegistryClient,
    repository: str,
    *,
    layers: list[bytes],
    arch: str = "amd64",
    oci: bool = False,
) -> Manifest:
    """Push a synthetic image (random layer bytes, a real config) straight through the
    registry API, and return its manifest. Formatted unusually on purpose: a digest only
    survives a retag if the exact bytes do."""
    layer_descriptors = [
        {
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            **_blob(client, repository, data),
        }
        for data in layers
    ]
    config = json.dumps(
        {
            "architecture": arch,
            "os": "linux",
            "created": "2026-11-01T12:00:00Z",
            "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in layer_descriptors]},
        }
    ).encode()
    media_type = OCI_MANIFEST if oci else DOCKER_MANIFEST
    document = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            **_blob(client, repository, config),
        },
        "layers": layer_descriptors,
    }
    body = json.dumps(document, indent=3).encode()
    manifest = Manifest("sha256:" + hashlib.sha256(body).hexdigest(), media_type, body)
    client.put_manifest(repository, manifest.digest, manifest)
    return manifest


def push_index(
    client: RegistryClient, repository: str, children: list[tuple[Manifest, str]]
) -> Manifest:
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": child.media_type,
                "digest": child.digest,
                "size": len(child.body),
                "platform": {"architecture": arch, "os": "linux"},
            }
            for child, arch in children
        ],
    }
    body = json.dumps(document, indent=1).encode()
    manifest = Manifest("sha256:" + hashlib.sha256(body).hexdigest(), OCI_INDEX, body)
    client.put_manifest(repository, manifest.digest, manifest)
    return manifest


def image_variant(
    client: RegistryClient, repository: str, base_digest: str, label: str
) -> Manifest:
    """A runnable new version of an image: the same layers with a changed config (a
    label), pushed under a new digest, the way a rebuild with a new label would be."""
    base = client.get_manifest(repository, base_digest)
    document = base.document
    config = json.loads(b"".join(client.download_blob(repository, document["config"]["digest"])))
    config.setdefault("config", {}).setdefault("Labels", {})["berth.test.variant"] = label
    config_bytes = json.dumps(config).encode()
    document["config"] = {**document["config"], **_blob(client, repository, config_bytes)}
    body = json.dumps(document, indent=2).encode()
    manifest = Manifest("sha256:" + hashlib.sha256(body).hexdigest(), base.media_type, body)
    client.put_manifest(repository, manifest.digest, manifest)
    return manifest

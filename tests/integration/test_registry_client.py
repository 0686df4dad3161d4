"""The registry client against real Distribution registries."""

import os
import uuid

import pytest

from registry.client import RegistryClient, RegistryError, validate_repository, validate_tag
from registry.transfer import copy_image
from tests.registries import LocalRegistry, push_image, push_index

pytestmark = pytest.mark.integration


def _repo() -> str:
    return f"test/r{uuid.uuid4().hex[:10]}"


@pytest.fixture
def local(registry_url) -> RegistryClient:
    return RegistryClient(registry_url, name="local")


@pytest.fixture
def second_registry(tmp_path, registry_url):
    other = LocalRegistry(tmp_path).start()
    yield RegistryClient(other.url, name="second")
    other.stop()


@pytest.mark.parametrize("name", ["app", "team/app", "a.b/c_d/e-f", "x__y"])
def test_valid_repository_names_pass(name):
    assert validate_repository(name) == name


@pytest.mark.parametrize("name", ["App", "/app", "app/", "a//b", "-app", "a..b", ""])
def test_invalid_repository_names_say_what_is_expected(name):
    with pytest.raises(ValueError, match="lowercase letters, digits and separators"):
        validate_repository(name)


@pytest.mark.parametrize("tag", ["-x", ".x", "a" * 129, "a b", "v1:2", ""])
def test_invalid_tags_are_refused(tag):
    with pytest.raises(ValueError, match="is not a valid tag"):
        validate_tag(tag)


def test_tags_are_listed_across_link_pages(local, monkeypatch):
    repository = _repo()
    manifest = push_image(local, repository, layers=[os.urandom(64)])
    for tag in ["a", "b", "c", "d", "e"]:
        local.put_manifest(repository, tag, manifest)
    monkeypatch.setattr("registry.client._PAGE_SIZE", 2)
    assert local.tags(repository) == ["a", "b", "c", "d", "e"]
    assert repository in local.catalog()


def test_a_retag_keeps_the_exact_bytes_and_digest(local):
    repository = _repo()
    manifest = push_image(local, repository, layers=[os.urandom(128), os.urandom(64)])
    original = local.get_manifest(repository, manifest.digest)
    local.put_manifest(repository, "qa-passed", original)
    retagged = local.get_manifest(repository, "qa-passed")
    assert retagged.body == manifest.body
    assert retagged.digest == manifest.digest == local.resolve(repository, "qa-passed")


def test_cross_repository_copy_mounts_blobs_instead_of_moving_bytes(local):
    source, target = _repo(), _repo()
    manifest = push_image(local, source, layers=[os.urandom(2048), os.urandom(1024)])
    copied, report = copy_image(local, source, manifest.digest, local, target)
    assert copied.digest == manifest.digest
    assert len(report.mounted) == 3 and report.bytes_streamed == 0
    assert local.resolve(target, manifest.digest) == manifest.digest


def test_cross_registry_copy_streams_a_multi_layer_image(local, second_registry):
    repository = _repo()
    layers = [os.urandom(3 * 1024 * 1024), os.urandom(1024), os.urandom(10)]
    manifest = push_image(local, repository, layers=layers)
    copied, report = copy_image(local, repository, manifest.digest, second_registry, "prod/app")
    assert len(report.streamed) == 4
    assert report.bytes_streamed >= sum(map(len, layers))
    assert second_registry.get_manifest("prod/app", manifest.digest).body == manifest.body
    for layer in layers:
        import hashlib

        digest = "sha256:" + hashlib.sha256(layer).hexdigest()
        assert b"".join(second_registry.download_blob("prod/app", digest)) == layer


def test_an_oci_index_with_two_platforms_keeps_its_digest_across_registries(local, second_registry):
    repository = _repo()
    amd64 = push_image(local, repository, layers=[os.urandom(256)], arch="amd64", oci=True)
    arm64 = push_image(local, repository, layers=[os.urandom(256)], arch="arm64", oci=True)
    index = push_index(local, repository, [(amd64, "amd64"), (arm64, "arm64")])
    copied, report = copy_image(local, repository, index.digest, second_registry, "multi/app")
    assert copied.digest == index.digest
    assert report.manifests == [amd64.digest, arm64.digest, index.digest]
    assert second_registry.get_manifest("multi/app", index.digest).body == index.body
    assert second_registry.resolve("multi/app", arm64.digest) == arm64.digest


def test_basic_auth_is_answered_and_wrong_credentials_are_named(tmp_path, registry_url):
    secured = LocalRegistry(tmp_path, users={"berth": "s3cret"}).start()
    try:
        client = RegistryClient(secured.url, name="secured", username="berth", password="s3cret")
        manifest = push_image(client, "auth/app", layers=[os.urandom(32)])
        assert client.resolve("auth/app", manifest.digest) == manifest.digest
        wrong = RegistryClient(secured.url, name="secured", username="berth", password="nope")
        with pytest.raises(
            RegistryError,
            match="Registry secured: could not list tags of auth/app: authentication failed",
        ):
            wrong.tags("auth/app")
        anonymous = RegistryClient(secured.url, name="secured")
        with pytest.raises(RegistryError, match="needs credentials and none are configured"):
            anonymous.tags("auth/app")
    finally:
        secured.stop()


def test_an_unreachable_registry_is_named_with_the_operation():
    client = RegistryClient("http://127.0.0.1:1", name="gone")
    with pytest.raises(
        RegistryError, match=r"Registry gone: could not read manifest app@sha256:0+: cannot connect"
    ):
        client.get_manifest("app", "sha256:" + "0" * 64)


def test_an_unknown_digest_is_a_clear_error(local):
    with pytest.raises(RegistryError, match="MANIFEST_UNKNOWN"):
        local.get_manifest(_repo(), "sha256:" + "1" * 64)


@pytest.fixture
def token_registry(tmp_path, registry_url):
    from tests.token_server import TokenServer

    tokens = TokenServer(tmp_path, users={"ci": "t0ken-pass"}).start()
    secured = LocalRegistry(tmp_path, auth=tokens.registry_auth()).start()
    yield secured, tokens
    secured.stop()
    tokens.stop()


def test_bearer_tokens_are_fetched_per_scope_and_cached(token_registry):
    secured, tokens = token_registry
    client = RegistryClient(secured.url, name="harbor-like", username="ci", password="t0ken-pass")
    manifest = push_image(client, "tok/app", layers=[os.urandom(64), os.urandom(32)])
    for _ in range(3):
        assert client.resolve("tok/app", manifest.digest) == manifest.digest
    client.put_manifest("tok/app", "qa-passed", client.get_manifest("tok/app", manifest.digest))
    # One token per scope, reused until it expires, not one per request.
    assert sorted(set(tokens.issued)) == sorted(tokens.issued)
    assert "repository:tok/app:pull,push" in tokens.issued
    assert client.tags("tok/app") == ["qa-passed"]


def test_a_mount_across_repositories_works_with_bearer_tokens(token_registry):
    secured, _ = token_registry
    client = RegistryClient(secured.url, name="harbor-like", username="ci", password="t0ken-pass")
    manifest = push_image(client, "tok/src", layers=[os.urandom(128)])
    copied, report = copy_image(client, "tok/src", manifest.digest, client, "tok/dst")
    assert copied.digest == manifest.digest and len(report.mounted) == 2


def test_a_token_server_refusing_the_credentials_is_named(token_registry):
    secured, _ = token_registry
    client = RegistryClient(secured.url, name="harbor-like", username="ci", password="wrong")
    with pytest.raises(
        RegistryError,
        match="Registry harbor-like: could not list tags of tok/app: the token server refused",
    ):
        client.tags("tok/app")

"""The registry adapter without a registry: name, tag and digest grammar, manifests and
their digests, WWW-Authenticate challenges, Link pagination and error messages, with
an in-memory HTTP session in place of the transport (registry/client.py); and the
transport's configuration (registry/http.py)."""

from __future__ import annotations

import base64
import hashlib
import json
from types import SimpleNamespace

import certifi
import pytest
import requests
from requests.structures import CaseInsensitiveDict

from registry import client as client_module
from registry import http as http_module
from registry.client import (
    MANIFEST_TYPES,
    Manifest,
    RegistryClient,
    RegistryError,
    validate_digest,
    validate_repository,
    validate_tag,
)
from registry.http import Timeout, TLSFailure, Transport, TransportError

BASE = "https://registry.test"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def sha256(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def response(status: int = 200, body: bytes | dict | None = None, **headers) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    answer._content = body or b""
    answer.headers = CaseInsensitiveDict({k.replace("_", "-"): v for k, v in headers.items()})
    return answer


class FakeHTTP:
    """Stands in for requests.Session: answers from a script, keeps every request."""

    def __init__(self, *answers, tokens=()):
        self.answers = list(answers)
        self.tokens = list(tokens)
        self.sent: list[SimpleNamespace] = []
        self.token_requests: list[SimpleNamespace] = []
        self.headers: dict = {}
        self.verify = True

    def request(self, method, url, timeout=None, **kwargs):
        kwargs["headers"] = dict(kwargs.get("headers") or {})  # as sent, not as changed later
        if hasattr(kwargs.get("data"), "__next__"):
            kwargs["data"] = b"".join(kwargs["data"])  # requests reads a stream as it sends
        self.sent.append(SimpleNamespace(method=method, url=url, timeout=timeout, **kwargs))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def get(self, url, params=None, auth=None, timeout=None):
        self.token_requests.append(SimpleNamespace(url=url, params=params, auth=auth))
        answer = self.tokens.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def make_client(*answers, tokens=(), **options) -> tuple[RegistryClient, FakeHTTP]:
    http = FakeHTTP(*answers, tokens=tokens)
    return RegistryClient(BASE + "/", name="reg", session=http, **options), http


# --- names, tags and digests -------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["app", "team/app", "a.b/c_d/e-f", "x__y", "a--b", "my-org/sub/team/app-1.2", "a" * 255]
)
def test_valid_repository_names_pass(name):
    assert validate_repository(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "App",
        "/app",
        "app/",
        "a//b",
        "-app",
        "a..b",
        "a___b",
        "app:v1",
        "app@sha",
        "a b",
        "a" * 256,
    ],  # fmt: skip
)
def test_invalid_repository_names_say_what_is_expected(name):
    with pytest.raises(ValueError) as caught:
        validate_repository(name)
    assert str(caught.value) == (
        f"{name!r} is not a valid repository name: use lowercase letters, digits and "
        "separators (. _ -), with / between path components, e.g. team/app."
    )


@pytest.mark.parametrize("tag", ["latest", "v1.2.3", "_x", "1", "RC-1_b.2", "a" * 128])
def test_valid_tags_pass(tag):
    assert validate_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", None, "-x", ".x", "a" * 129, "a b", "v1:2", "v1/2", "ü"])
def test_invalid_tags_are_refused_with_the_rule(tag):
    with pytest.raises(ValueError) as caught:
        validate_tag(tag)
    assert str(caught.value) == (
        f"{tag!r} is not a valid tag: up to 128 letters, digits, '_', '.' or '-', "
        "not starting with '.' or '-'."
    )


def test_a_sha256_digest_passes():
    digest = "sha256:" + "0123456789abcdef" * 4
    assert validate_digest(digest) == digest


@pytest.mark.parametrize(
    "digest",
    [
        "",
        None,
        "0123456789abcdef" * 4,  # no algorithm
        "sha256:" + "0123456789ABCDEF" * 4,  # uppercase hex
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 65,
        "sha512:" + "a" * 128,
        "sha256:" + "g" * 64,
    ],
)
def test_other_digests_are_refused(digest):
    with pytest.raises(ValueError) as caught:
        validate_digest(digest)
    assert str(caught.value) == (
        f"{digest!r} is not a sha256 digest (sha256: and 64 lowercase hex digits)."
    )


@pytest.mark.parametrize(
    ("validator", "value"),
    [
        (validate_tag, "latest\n"),
        (validate_repository, "team/app\n"),
        (validate_digest, "sha256:" + "a" * 64 + "\n"),
    ],
)
def test_a_trailing_newline_is_refused(validator, value):
    with pytest.raises(ValueError):
        validator(value)


# --- manifests ---------------------------------------------------------------------------


IMAGE_MANIFEST = {
    "schemaVersion": 2,
    "mediaType": OCI_MANIFEST,
    "config": {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        "digest": "sha256:c",
        "size": 2,
    },  # fmt: skip
    "layers": [
        {
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": "sha256:l1",
            "size": 3,
        },  # fmt: skip
        {
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": "sha256:l2",
            "size": 4,
        },  # fmt: skip
    ],
}
INDEX = {
    "schemaVersion": 2,
    "mediaType": OCI_INDEX,
    "manifests": [
        {"digest": "sha256:amd", "platform": {"architecture": "amd64", "os": "linux"}},
        {"digest": "sha256:arm", "platform": {"architecture": "arm64", "os": "linux"}},
    ],
}


def test_an_image_manifest_lists_its_config_and_layers_and_no_children():
    body = json.dumps(IMAGE_MANIFEST).encode()
    manifest = Manifest(digest=sha256(body), media_type=OCI_MANIFEST, body=body)
    assert not manifest.is_index and manifest.children() == []
    assert [blob["digest"] for blob in manifest.blobs()] == ["sha256:c", "sha256:l1", "sha256:l2"]
    assert manifest.document == IMAGE_MANIFEST


def test_an_index_lists_its_children_and_no_blobs():
    body = json.dumps(INDEX).encode()
    for media_type in (OCI_INDEX, "application/vnd.docker.distribution.manifest.list.v2+json"):
        manifest = Manifest(digest=sha256(body), media_type=media_type, body=body)
        assert manifest.is_index and manifest.blobs() == []
        assert [child["digest"] for child in manifest.children()] == ["sha256:amd", "sha256:arm"]


def test_a_manifest_is_read_as_its_exact_bytes_and_their_digest():
    body = b'{\n   "schemaVersion": 2,  "mediaType": "x", "layers": []}'  # odd spacing kept
    client, http = make_client(
        response(
            200,
            body,
            Content_Type=f"{DOCKER_MANIFEST}; charset=utf-8",
            Docker_Content_Digest=sha256(body),
        )  # fmt: skip
    )
    manifest = client.get_manifest("team/app", "v1")
    assert manifest == Manifest(digest=sha256(body), media_type=DOCKER_MANIFEST, body=body)
    (sent,) = http.sent
    assert (sent.method, sent.url) == ("GET", f"{BASE}/v2/team/app/manifests/v1")
    assert sent.headers["Accept"] == ", ".join(MANIFEST_TYPES)
    assert sent.timeout == client.timeout


def test_a_manifest_without_a_known_content_type_takes_its_media_type_from_the_body():
    body = json.dumps(IMAGE_MANIFEST).encode()
    client, _ = make_client(response(200, body, Content_Type="application/json"))
    manifest = client.get_manifest("team/app", sha256(body))  # no Docker-Content-Digest: fine
    assert manifest.media_type == OCI_MANIFEST and manifest.digest == sha256(body)


def test_a_manifest_whose_bytes_do_not_hash_to_the_claimed_digest_is_refused():
    body = json.dumps(IMAGE_MANIFEST).encode()
    claimed = "sha256:" + "0" * 64
    client, _ = make_client(response(200, body, Content_Type=OCI_MANIFEST, Docker_Content_Digest=claimed))  # fmt: skip
    with pytest.raises(RegistryError) as caught:
        client.get_manifest("team/app", "v1")
    assert str(caught.value) == (
        f"Registry reg: could not read manifest team/app:v1: "
        f"the manifest bytes hash to {sha256(body)}, not {claimed}"
    )


def test_a_manifest_read_by_digest_must_have_that_digest():
    body = json.dumps(IMAGE_MANIFEST).encode()
    asked = "sha256:" + "1" * 64
    client, _ = make_client(response(200, body, Content_Type=OCI_MANIFEST))
    with pytest.raises(RegistryError, match=f"read manifest team/app@{asked}: .* not {asked}$"):
        client.get_manifest("team/app", asked)


def test_a_manifest_that_is_not_json_is_named():
    client, _ = make_client(response(200, b"<html>", Content_Type="text/html"))
    with pytest.raises(RegistryError, match="the manifest is not JSON"):
        client.get_manifest("team/app", "v1")


def test_put_manifest_sends_the_same_bytes_and_media_type():
    body = json.dumps(IMAGE_MANIFEST).encode()
    manifest = Manifest(digest=sha256(body), media_type=OCI_MANIFEST, body=body)
    client, http = make_client(response(201, Docker_Content_Digest=manifest.digest))
    assert client.put_manifest("prod/app", "1.0", manifest) == manifest.digest
    (sent,) = http.sent
    assert (sent.method, sent.url, sent.data) == ("PUT", f"{BASE}/v2/prod/app/manifests/1.0", body)
    assert sent.headers["Content-Type"] == OCI_MANIFEST


def test_put_manifest_refuses_a_registry_that_stored_another_digest():
    body = json.dumps(IMAGE_MANIFEST).encode()
    manifest = Manifest(digest=sha256(body), media_type=OCI_MANIFEST, body=body)
    client, _ = make_client(response(201, Docker_Content_Digest="sha256:" + "9" * 64))
    with pytest.raises(RegistryError, match="the registry stored digest sha256:9+, expected"):
        client.put_manifest("prod/app", "1.0", manifest)


def test_resolve_is_a_head_for_the_digest_and_none_when_missing():
    digest = "sha256:" + "2" * 64
    client, http = make_client(response(200, Docker_Content_Digest=digest), response(404))
    assert client.resolve("team/app", "v1") == digest
    assert client.resolve("team/app", "v2") is None
    assert [s.method for s in http.sent] == ["HEAD", "HEAD"]


def test_an_uploaded_blob_must_hash_to_its_digest():
    client, http = make_client(
        response(202, Location="/v2/team/app/blobs/uploads/u1?state=abc"), response(201)
    )
    with pytest.raises(RegistryError, match="the bytes copied do not match the digest"):
        client.upload_blob("team/app", "sha256:" + "3" * 64, iter([b"some", b"bytes"]))
    assert http.sent[1].data == b"somebytes"  # chunked: the stream went out as it was read
    assert http.sent[1].url == f"{BASE}/v2/team/app/blobs/uploads/u1?state=abc&digest=sha256:{'3' * 64}"  # fmt: skip
    data = b"somebytes"
    client, http = make_client(response(202, Location=f"{BASE}/up/u2"), response(201))
    client.upload_blob("team/app", sha256(data), iter([b"some", b"bytes"]))
    assert http.sent[1].url == f"{BASE}/up/u2?digest={sha256(data)}"


# --- authentication ----------------------------------------------------------------------


def bearer_challenge(**fields) -> str:
    return "Bearer " + ",".join(f'{k}="{v}"' for k, v in fields.items())


def test_a_bearer_challenge_is_answered_with_a_token_for_the_calls_scope():
    challenge = bearer_challenge(
        realm="https://auth.test/token", service="registry.test", scope="repository:x:pull"
    )
    client, http = make_client(
        response(401, WWW_Authenticate=challenge),
        response(200, {"tags": ["v1"]}),
        response(200, {"tags": ["v2"]}),
        tokens=[response(200, {"token": "tok-1", "expires_in": 300})],
        username="ci",
        password="pw",
    )
    assert client.tags("team/app") == ["v1"]
    (asked,) = http.token_requests
    assert asked.url == "https://auth.test/token"
    assert asked.params == {"service": "registry.test", "scope": ["repository:team/app:pull"]}
    assert asked.auth == ("ci", "pw")
    assert "Authorization" not in http.sent[0].headers
    assert http.sent[1].headers["Authorization"] == "Bearer tok-1"
    # The token is cached for its scope: the next call sends it at once.
    assert client.tags("team/app") == ["v2"]
    assert len(http.token_requests) == 1 and http.sent[2].headers["Authorization"] == "Bearer tok-1"


def test_a_cached_token_is_renewed_ten_seconds_before_it_expires(monkeypatch):
    clock = SimpleNamespace(now=100.0)
    monkeypatch.setattr(client_module, "time", SimpleNamespace(monotonic=lambda: clock.now))
    challenge = bearer_challenge(realm="https://auth.test/token", service="s")
    client, http = make_client(
        response(401, WWW_Authenticate=challenge),
        response(200),
        response(200),
        response(401, WWW_Authenticate=challenge),
        response(200),
        tokens=[
            response(200, {"access_token": "a1", "expires_in": 60}),
            response(200, {"token": "a2"}),
        ],  # fmt: skip
    )
    client.ping()
    clock.now += 49
    client.ping()  # still within 60 - 10 s
    clock.now += 2
    client.ping()  # expired in the cache: the registry challenges again
    assert [s.headers.get("Authorization") for s in http.sent] == [
        None, "Bearer a1", "Bearer a1", None, "Bearer a2",
    ]  # fmt: skip
    assert http.token_requests[0].params == {"service": "s"}  # no scope: none asked
    assert http.token_requests[0].auth is None  # anonymous without a username


def test_several_scopes_go_as_repeated_parameters():
    challenge = bearer_challenge(realm="https://auth.test/token", service="s")
    client, http = make_client(
        response(401, WWW_Authenticate=challenge),
        response(201),
        tokens=[response(200, {"token": "t"})],
    )
    assert client.mount_blob("prod/app", "sha256:" + "4" * 64, "team/app") is True
    assert http.token_requests[0].params["scope"] == [
        "repository:prod/app:pull,push",
        "repository:team/app:pull",
    ]


def test_a_basic_challenge_is_answered_with_the_credentials():
    client, http = make_client(
        response(401, WWW_Authenticate='Basic realm="Registry Realm"'),
        response(200),
        username="ci",
        password="s3cret",
    )
    client.ping()
    expected = "Basic " + base64.b64encode(b"ci:s3cret").decode()
    assert http.sent[1].headers["Authorization"] == expected
    assert http.token_requests == []


@pytest.mark.parametrize(
    ("challenge", "tokens", "reason"),
    [
        ('Basic realm="x"', [], "the registry needs credentials and none are configured"),
        ('Negotiate abc', [], "unsupported authentication challenge 'Negotiate abc'"),
        ('Bearer service="s"', [], "bearer challenge without a realm"),
        (bearer_challenge(realm="https://auth.test/t"), [response(403)], "the token server refused the credentials"),
        (bearer_challenge(realm="https://auth.test/t"), [response(200, {"nope": 1})], "the token server at https://auth.test/t returned no token"),
        (bearer_challenge(realm="https://auth.test/t"), [response(200, b"not json")], "the token server at https://auth.test/t returned no token"),
        (bearer_challenge(realm="https://auth.test/t"), [TransportError("refused")], "token server https://auth.test/t unreachable"),
    ],
)  # fmt: skip
def test_authentication_problems_are_named(challenge, tokens, reason):
    client, _ = make_client(response(401, WWW_Authenticate=challenge), tokens=tokens)
    with pytest.raises(RegistryError) as caught:
        client.ping()
    assert str(caught.value) == f"Registry reg: could not reach the API: {reason}"
    assert caught.value.operation == "reach the API"


def test_credentials_refused_after_the_challenge_are_a_401_error():
    client, _ = make_client(
        response(401, WWW_Authenticate='Basic realm="x"'), response(401), username="u", password="p"
    )
    with pytest.raises(RegistryError) as caught:
        client.ping()
    assert caught.value.status == 401
    assert caught.value.reason == "authentication failed (check the registry's username and password)"  # fmt: skip


def test_a_streamed_upload_is_not_replayed_after_a_challenge():
    client, _ = make_client(
        response(202, Location="/v2/team/app/blobs/uploads/u1"),
        response(401, WWW_Authenticate='Basic realm="x"'),
        username="u",
        password="p",
    )
    with pytest.raises(RegistryError, match="authentication needed mid-stream"):
        client.upload_blob("team/app", "sha256:" + "5" * 64, iter([b"x"]))


# --- pagination and errors ---------------------------------------------------------------


def test_tags_follow_link_pages_and_come_back_sorted():
    client, http = make_client(
        response(
            200, {"tags": ["v3", "v1"]}, Link='</v2/team/app/tags/list?last=v3&n=2>; rel="next"'
        ),  # fmt: skip
        response(
            200, {"tags": ["v2"]}, Link=f"<{BASE}/v2/team/app/tags/list?last=v2&n=2>; rel=next"
        ),  # fmt: skip
        response(200, {"tags": None}),
    )
    assert client.tags("team/app") == ["v1", "v2", "v3"]
    assert [s.url for s in http.sent] == [
        f"{BASE}/v2/team/app/tags/list?n=1000",
        f"{BASE}/v2/team/app/tags/list?last=v3&n=2",
        f"{BASE}/v2/team/app/tags/list?last=v2&n=2",
    ]


def test_the_catalog_is_paginated_too():
    client, http = make_client(
        response(200, {"repositories": ["a"]}, Link='</v2/_catalog?last=a&n=1>; rel="next"'),
        response(200, {"repositories": ["b"]}),
    )
    assert client.catalog() == ["a", "b"]
    assert http.sent[1].url == f"{BASE}/v2/_catalog?last=a&n=1"


def test_tags_of_a_missing_repository_are_none_and_a_bad_name_is_refused_first():
    client, http = make_client(
        response(
            404,
            {
                "errors": [
                    {"code": "NAME_UNKNOWN", "message": "repository name not known to registry"}
                ]
            },
        )  # fmt: skip
    )
    assert client.tags("team/ghost") == []
    with pytest.raises(ValueError, match="not a valid repository name"):
        client.tags("Team/App")
    assert len(http.sent) == 1


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (response(404, {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}), "MANIFEST_UNKNOWN: manifest unknown (HTTP 404)"),
        (response(403), "access denied (the registry account lacks the permission)"),
        (response(500, b"<html>oops</html>"), "unexpected answer HTTP 500"),
        (TransportError("refused"), "cannot connect to https://registry.test (is the registry running?)"),
        (TLSFailure("bad cert"), "TLS error (TLSFailure); check the certificate or the TLS verify setting"),
        (Timeout("slow"), "no answer within 15 s"),
    ],
)  # fmt: skip
def test_errors_name_the_registry_the_operation_and_the_reason(answer, reason):
    client, _ = make_client(answer)
    with pytest.raises(RegistryError) as caught:
        client.get_manifest("team/app", "v9")
    assert str(caught.value) == f"Registry reg: could not read manifest team/app:v9: {reason}"
    assert caught.value.status == (answer.status_code if isinstance(answer, requests.Response) else None)  # fmt: skip


def test_the_client_is_configured_from_its_url():
    client, http = make_client(verify_tls=False)
    assert client.base_url == BASE and client.host == "registry.test"
    assert http.verify is False
    assert http.headers["User-Agent"] == client_module.USER_AGENT
    assert RegistryClient("http://127.0.0.1:5000", session=FakeHTTP()).name == "127.0.0.1:5000"


def test_credentials_never_go_to_another_host():
    """A Location or Link that points elsewhere gets no Authorization header."""
    import requests

    from registry.client import RegistryClient, RegistryError

    sent = []

    class Session(requests.Session):
        def request(self, method, url, **kwargs):
            sent.append((url, (kwargs.get("headers") or {}).get("Authorization")))
            response = requests.Response()
            response.status_code = 401 if "elsewhere" in url else 200
            response.headers["WWW-Authenticate"] = 'Basic realm="x"'
            response._content = b"{}"
            return response

    client = RegistryClient("http://127.0.0.1:5000", username="u", password="p")
    client.session = Session()
    client._tokens[""] = type("T", (), {"value": "Basic secret", "expires_at": float("inf")})()
    client._request("GET", "/v2/", "ping")
    with pytest.raises(RegistryError, match="sends them only to 127.0.0.1:5000"):
        client._request("GET", "http://elsewhere.example:5000/v2/x", "follow a Location")
    assert sent == [
        ("http://127.0.0.1:5000/v2/", "Basic secret"),
        ("http://elsewhere.example:5000/v2/x", None),
    ]


def test_put_manifest_reports_no_digest_when_the_registry_sends_none():
    body = json.dumps(IMAGE_MANIFEST).encode()
    manifest = Manifest(digest=sha256(body), media_type=OCI_MANIFEST, body=body)
    client, _ = make_client(response(201))
    assert client.put_manifest("prod/app", "1.0", manifest) is None


# --- the transport's configuration (its requests: tests/integration/test_registry_http.py)


def test_proxies_come_from_the_environment_once_per_host(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    calls = []
    original = http_module.get_environ_proxies
    monkeypatch.setattr(
        http_module, "get_environ_proxies", lambda url: calls.append(url) or original(url)
    )
    transport = Transport()
    for _ in range(3):
        proxied = transport._manager("https://registry.example/v2/a/manifests/1")
        direct = transport._manager("http://127.0.0.1:5000/v2/")
    assert proxied.proxy.host == "proxy.example" and proxied.proxy.port == 3128
    assert not hasattr(direct, "proxy") or direct.proxy is None
    assert len(calls) == 2


def test_tls_is_verified_against_the_configured_bundle_or_not_at_all(monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/berth-ca.pem")
    verified = Transport()._manager("https://registry.example/v2/")
    assert verified.connection_pool_kw["cert_reqs"] == "CERT_REQUIRED"
    assert verified.connection_pool_kw["ca_certs"] == "/etc/ssl/berth-ca.pem"
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    assert Transport()._manager("https://r.example/").connection_pool_kw["ca_certs"] == (
        certifi.where()
    )
    unverified = Transport()
    unverified.verify = False
    assert unverified._manager("https://r.example/").connection_pool_kw["cert_reqs"] == "CERT_NONE"

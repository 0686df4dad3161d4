"""The registry adapter: Registry HTTP API v2 / OCI distribution, over :mod:`registry.http`.

Every call to a registry goes through :class:`RegistryClient`. Errors become
:class:`RegistryError` naming the registry and the operation, so a person knows what
failed where. Manifests are handled as the exact bytes the registry returned: their
digest is computed here and compared with ``Docker-Content-Digest``, and a retag PUTs
those same bytes with the same Content-Type, so the digest can never change.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from portal.core.errors import DependencyUnavailable
from registry.http import Response, Timeout, TLSFailure, Transport, TransportError, basic_auth

__all__ = [
    "MANIFEST_TYPES",
    "Manifest",
    "RegistryClient",
    "RegistryError",
    "split_reference",
    "validate_digest",
    "validate_repository",
    "validate_tag",
]

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
#: Listed on every manifest GET and HEAD: without them a registry may convert the
#: manifest to schema 1 (a different digest) or refuse.
MANIFEST_TYPES = (OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)

# OCI distribution spec grammar.
_REPOSITORY = re.compile(
    r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$"
)
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_CHUNK = 1024 * 1024
_PAGE_SIZE = 1000
USER_AGENT = "berth-registry-client/1"


def split_reference(reference: str) -> tuple[str | None, str]:
    """``(host, repository)`` of an image reference such as
    ``127.0.0.1:5000/demo/app:1.2@sha256:…``: the host is the first component when it
    has a dot or a port or is ``localhost`` (Docker's rule), else None; a tag or digest
    is dropped. The repository is not validated here."""
    name = reference.split("@", 1)[0]
    first, _, rest = name.partition("/")
    host = None
    if rest and ("." in first or ":" in first or first == "localhost"):
        host, name = first, rest
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        name = name[:colon]
    return host, name


def validate_repository(name: str) -> str:
    """Return ``name`` if it is a valid repository name, else raise ValueError saying why."""
    if not name or len(name) > 255 or not _REPOSITORY.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a valid repository name: use lowercase letters, digits and "
            "separators (. _ -), with / between path components, e.g. team/app."
        )
    return name


def validate_tag(tag: str) -> str:
    if not _TAG.fullmatch(tag or ""):
        raise ValueError(
            f"{tag!r} is not a valid tag: up to 128 letters, digits, '_', '.' or '-', "
            "not starting with '.' or '-'."
        )
    return tag


def validate_digest(digest: str) -> str:
    if not _DIGEST.fullmatch(digest or ""):
        raise ValueError(
            f"{digest!r} is not a sha256 digest (sha256: and 64 lowercase hex digits)."
        )
    return digest


class RegistryError(DependencyUnavailable):
    """A registry operation failed; ``str()`` names the registry, the operation and why."""

    def __init__(self, registry: str, operation: str, reason: str, *, status: int | None = None):
        self.registry, self.operation, self.reason, self.status = (
            registry,
            operation,
            reason,
            status,
        )
        super().__init__(f"Registry {registry}: could not {operation}: {reason}")


@dataclass(frozen=True)
class Manifest:
    """A manifest exactly as stored: its bytes, their media type and their digest."""

    digest: str
    media_type: str
    body: bytes

    @property
    def document(self) -> dict:
        return json.loads(self.body)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    def children(self) -> list[dict]:
        """Child manifest descriptors of an index."""
        return list(self.document.get("manifests", [])) if self.is_index else []

    def blobs(self) -> list[dict]:
        """Config and layer descriptors of an image manifest."""
        if self.is_index:
            return []
        document = self.document
        return [d for d in [document.get("config"), *document.get("layers", [])] if d]


_shared: dict[tuple, RegistryClient] = {}
_shared_lock = threading.Lock()
_SHARED_MAX = 64


@dataclass
class _Token:
    value: str
    expires_at: float


@dataclass
class RegistryClient:
    """A client for one registry. Thread-safe; bearer tokens are cached per scope until
    shortly before they expire."""

    base_url: str
    name: str = ""
    username: str = ""
    password: str = ""
    verify_tls: bool = True
    timeout: float = 15.0
    session: Transport = field(default_factory=Transport)
    _tokens: dict[str, _Token] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.name = self.name or urlsplit(self.base_url).netloc
        self.session.verify = self.verify_tls
        # Lets push notifications caused by Berth's own retags be recognised and skipped.
        self.session.headers["User-Agent"] = USER_AGENT

    @classmethod
    def for_registry(cls, registry) -> RegistryClient:
        """The client of a :class:`registry.models.Registry` row, shared in this process:
        its connections stay open between operations (a promotion does not connect
        anew) and its bearer tokens are reused until they expire. A changed URL or
        credential gives a new client."""
        key = (registry.pk, registry.url, registry.name, registry.username, registry.password,
               registry.verify_tls)  # fmt: skip
        with _shared_lock:
            client = _shared.get(key)
            if client is None:
                if len(_shared) >= _SHARED_MAX:
                    _shared.clear()  # changed credentials leave old clients; forget them
                client = _shared[key] = cls(
                    registry.url,
                    name=registry.name,
                    username=registry.username,
                    password=registry.password,
                    verify_tls=registry.verify_tls,
                )
            return client

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc

    # --- transport ------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        scope: str = "",
        ok: tuple[int, ...] = (200,),
        **kwargs,
    ) -> Response:
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        headers = dict(kwargs.pop("headers", {}) or {})
        # Credentials go to the registry itself (and its token realm) only: an absolute
        # Location or Link to another host gets none.
        ours = urlsplit(url)[:2] == urlsplit(self.base_url)[:2]
        auth = self._cached_auth(scope) if ours else None
        if auth:
            headers["Authorization"] = auth
        response = self._send(method, url, operation, headers=headers, **kwargs)
        if response.status_code == 401 and not ours:
            raise RegistryError(
                self.name, operation,
                f"{urlsplit(url).netloc} asks for credentials; Berth sends them only to {self.host}",
                status=401,
            )  # fmt: skip
        if response.status_code == 401:
            challenge = response.headers.get("WWW-Authenticate", "")
            headers["Authorization"] = self._authorize(challenge, scope, operation)
            if hasattr(kwargs.get("data"), "__next__"):
                raise RegistryError(self.name, operation, "authentication needed mid-stream")
            response = self._send(method, url, operation, headers=headers, **kwargs)
        if response.status_code not in ok:
            raise RegistryError(
                self.name, operation, self._reason(response), status=response.status_code
            )
        return response

    def _send(self, method: str, url: str, operation: str, **kwargs) -> Response:
        try:
            return self.session.request(method, url, timeout=self.timeout, **kwargs)
        except TLSFailure as exc:
            raise RegistryError(
                self.name,
                operation,
                f"TLS error ({exc.__class__.__name__}); check the certificate or the TLS verify setting",
            ) from exc
        except Timeout as exc:
            raise RegistryError(
                self.name, operation, f"no answer within {self.timeout:g} s"
            ) from exc
        except TransportError as exc:
            raise RegistryError(
                self.name,
                operation,
                f"cannot connect to {self.base_url} (is the registry running?)",
            ) from exc

    def _reason(self, response: Response) -> str:
        if response.status_code == 401:
            return "authentication failed (check the registry's username and password)"
        if response.status_code == 403:
            return "access denied (the registry account lacks the permission)"
        try:
            errors = response.json().get("errors") or []
        except ValueError:
            errors = []
        if errors:
            first = errors[0]
            return f"{first.get('code', 'ERROR')}: {first.get('message', '')} (HTTP {response.status_code})"
        return f"unexpected answer HTTP {response.status_code}"

    def _cached_auth(self, scope: str) -> str | None:
        with self._lock:
            token = self._tokens.get(scope)
            if token and token.expires_at > time.monotonic():
                return token.value
        return None

    def _authorize(self, challenge: str, scope: str, operation: str) -> str:
        """Answer a WWW-Authenticate challenge with Basic credentials or a bearer token."""
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() == "basic":
            if not self.username:
                raise RegistryError(
                    self.name, operation, "the registry needs credentials and none are configured"
                )
            basic = basic_auth(self.username, self.password)
            with self._lock:
                self._tokens[scope] = _Token(basic, time.monotonic() + 3600)
            return basic
        if scheme.lower() != "bearer":
            raise RegistryError(
                self.name, operation, f"unsupported authentication challenge {challenge!r}"
            )
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        realm = fields.pop("realm", "")
        if not realm:
            raise RegistryError(self.name, operation, "bearer challenge without a realm")
        # Ask for the scope the token is cached under (what this call and its kind need),
        # falling back to the challenge's; several scopes go as repeated parameters.
        wanted = scope or fields.get("scope", "")
        query: dict = {"service": fields.get("service", "")}
        if wanted:
            query["scope"] = wanted.split(" ")
        auth = (self.username, self.password) if self.username else None
        try:
            answer = self.session.get(realm, params=query, auth=auth, timeout=self.timeout)
        except TransportError as exc:
            raise RegistryError(self.name, operation, f"token server {realm} unreachable") from exc
        if answer.status_code in (401, 403):
            raise RegistryError(
                self.name, operation, "the token server refused the credentials", status=401
            )
        try:
            payload = answer.json()
            value = payload.get("token") or payload["access_token"]
        except (ValueError, KeyError):
            raise RegistryError(
                self.name, operation, f"the token server at {realm} returned no token"
            ) from None
        expires_in = int(payload.get("expires_in") or 60)
        bearer = f"Bearer {value}"
        with self._lock:
            # Renew 10 s early so a token never expires between check and use.
            self._tokens[scope] = _Token(bearer, time.monotonic() + max(expires_in - 10, 1))
        return bearer

    def _paginate(self, path: str, key: str, operation: str, scope: str) -> list[str]:
        items: list[str] = []
        url = f"{path}?n={_PAGE_SIZE}"
        while url:
            response = self._request("GET", url, operation, scope=scope)
            try:
                items.extend(response.json().get(key) or [])
            except ValueError:
                raise RegistryError(self.name, operation, "the answer is not JSON") from None
            match = re.search(r"<([^>]+)>\s*;\s*rel=\"?next\"?", response.headers.get("Link", ""))
            url = urljoin(self.base_url + path, match.group(1)) if match else ""
        return items

    # --- reading ----------------------------------------------------------------------

    def ping(self) -> None:
        self._request("GET", "/v2/", "reach the API", scope="")

    def catalog(self) -> list[str]:
        return self._paginate(
            "/v2/_catalog", "repositories", "list repositories", "registry:catalog:*"
        )

    def tags(self, repository: str) -> list[str]:
        validate_repository(repository)
        try:
            return sorted(
                self._paginate(
                    f"/v2/{repository}/tags/list",
                    "tags",
                    f"list tags of {repository}",
                    _pull(repository),
                )
            )
        except RegistryError as exc:
            if exc.status == 404:
                return []
            raise

    def get_manifest(self, repository: str, reference: str) -> Manifest:
        """The manifest at a tag or digest, verified against its digest."""
        operation = (
            f"read manifest {repository}:{reference}"
            if ":" not in reference
            else f"read manifest {repository}@{reference}"
        )
        response = self._request(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            operation,
            scope=_pull(repository),
            headers={"Accept": ", ".join(MANIFEST_TYPES)},
        )
        body = response.content
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        claimed = response.headers.get("Docker-Content-Digest", digest)
        if claimed != digest or (reference.startswith("sha256:") and reference != digest):
            raise RegistryError(
                self.name,
                operation,
                f"the manifest bytes hash to {digest}, not {claimed if claimed != digest else reference}",
            )
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        if media_type not in MANIFEST_TYPES:
            try:
                media_type = json.loads(body).get("mediaType") or media_type
            except ValueError:
                raise RegistryError(self.name, operation, "the manifest is not JSON") from None
        return Manifest(digest=digest, media_type=media_type, body=body)

    def resolve(self, repository: str, reference: str) -> str | None:
        """The digest a tag (or digest) points at, or None when it does not exist (HEAD)."""
        try:
            response = self._request(
                "HEAD",
                f"/v2/{repository}/manifests/{reference}",
                f"look up {repository}:{reference}",
                scope=_pull(repository),
                headers={"Accept": ", ".join(MANIFEST_TYPES)},
            )
        except RegistryError as exc:
            if exc.status == 404:
                return None
            raise
        return response.headers.get("Docker-Content-Digest")

    def blob_exists(self, repository: str, digest: str) -> bool:
        try:
            self._request(
                "HEAD",
                f"/v2/{repository}/blobs/{digest}",
                f"check blob {digest[:19]} in {repository}",
                scope=_push(repository),
            )
        except RegistryError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    # --- writing ----------------------------------------------------------------------

    def put_manifest(self, repository: str, reference: str, manifest: Manifest) -> str | None:
        """PUT the manifest's exact bytes and media type; returns the digest the registry
        reports it stored at ``reference`` (``Docker-Content-Digest``), after checking it
        is the manifest's own, or None when the registry reports none."""
        operation = f"write manifest {repository}:{reference}"
        response = self._request(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            operation,
            scope=_push(repository),
            ok=(201,),
            data=manifest.body,
            headers={"Content-Type": manifest.media_type},
        )
        stored = response.headers.get("Docker-Content-Digest")
        if stored is not None and stored != manifest.digest:
            raise RegistryError(
                self.name,
                operation,
                f"the registry stored digest {stored}, expected {manifest.digest}",
            )
        return stored

    def mount_blob(self, repository: str, digest: str, from_repository: str) -> bool:
        """Cross-repository mount; True when mounted (201). On 202 the registry opened an
        upload session instead, which is cancelled here, and False is returned."""
        response = self._request(
            "POST",
            f"/v2/{repository}/blobs/uploads/?mount={digest}&from={from_repository}",
            f"mount blob {digest[:19]} from {from_repository} into {repository}",
            scope=f"{_push(repository)} {_pull(from_repository)}",
            ok=(201, 202),
        )
        if response.status_code == 201:
            return True
        location = response.headers.get("Location")
        if location:
            # Best effort: an abandoned session also expires on its own.
            with contextlib.suppress(RegistryError):
                self._request(
                    "DELETE",
                    urljoin(self.base_url, location),
                    "cancel upload",
                    scope=_push(repository),
                    ok=(204, 404),
                )
        return False

    def download_blob(self, repository: str, digest: str) -> Iterator[bytes]:
        """The blob as a stream of chunks: never the whole layer in memory."""
        operation = f"read blob {digest[:19]} of {repository}"
        response = self._request(
            "GET",
            f"/v2/{repository}/blobs/{digest}",
            operation,
            scope=_pull(repository),
            stream=True,
        )
        try:
            yield from response.iter_content(_CHUNK)
        except TransportError as exc:
            raise RegistryError(
                self.name, operation, f"the connection broke while reading: {exc}"
            ) from exc
        finally:
            response.close()

    def upload_blob(self, repository: str, digest: str, chunks: Iterator[bytes]) -> None:
        """Upload a blob from a stream of chunks (chunked transfer, one PUT), verifying
        the digest as the bytes pass."""
        operation = f"upload blob {digest[:19]} to {repository}"
        start = self._request(
            "POST",
            f"/v2/{repository}/blobs/uploads/",
            operation,
            scope=_push(repository),
            ok=(202,),
        )
        location = urljoin(self.base_url, start.headers["Location"])
        hasher = hashlib.sha256()

        def hashed() -> Iterator[bytes]:
            for chunk in chunks:
                hasher.update(chunk)
                yield chunk

        separator = "&" if "?" in location else "?"
        self._request(
            "PUT",
            f"{location}{separator}digest={digest}",
            operation,
            scope=_push(repository),
            ok=(201,),
            data=hashed(),
            headers={"Content-Type": "application/octet-stream"},
        )
        if "sha256:" + hasher.hexdigest() != digest:
            raise RegistryError(self.name, operation, "the bytes copied do not match the digest")


def _pull(repository: str) -> str:
    return f"repository:{repository}:pull"


def _push(repository: str) -> str:
    return f"repository:{repository}:pull,push"

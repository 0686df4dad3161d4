"""Connecting to an endpoint: the one Docker client factory, and Docker's errors turned
into :class:`EngineUnavailable` messages a person can act on."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator

import docker
import requests
from django.conf import settings
from docker.tls import TLSConfig

from environments.engine.endpoint import Endpoint
from portal.core.errors import DependencyUnavailable

__all__ = ["ContainerMissing", "EngineUnavailable", "open_client"]


class EngineUnavailable(DependencyUnavailable):
    """The environment's Docker endpoint could not be used; ``str()`` says why."""


class ContainerMissing(EngineUnavailable):
    """The container does not exist (any more) on the environment's endpoint."""


def _reason(exc: BaseException) -> str:
    """A short human reason for a connection failure, from the innermost cause."""
    seen: list[BaseException] = []
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.append(current)
        for arg in getattr(current, "args", ()):
            if isinstance(arg, BaseException):
                pending.append(arg)
        for nxt in (current.__cause__, current.__context__):
            if nxt is not None:
                pending.append(nxt)
    for current in seen:
        code = getattr(current, "errno", None)
        if code == errno.ENOENT:
            return "the socket does not exist (is the engine running?)"
        if code == errno.ECONNREFUSED:
            return "connection refused (is the engine listening there?)"
        if code == errno.EACCES:
            return "permission denied on the socket"
    for current in seen:
        if isinstance(current, requests.exceptions.Timeout | TimeoutError):
            return f"no answer within {settings.DOCKER_TIMEOUT} s"
        if isinstance(current, requests.exceptions.SSLError):
            return f"TLS handshake failed: {current}"
    if isinstance(exc, docker.errors.APIError):
        return exc.explanation or str(exc)
    return str(exc) or exc.__class__.__name__


# Negotiated API version per endpoint: "auto" costs a round trip on every new client.
# A wrong cached value is harmless: the engine answers with a clear error and a probe
# (which always negotiates, see probe()) refreshes it.
_api_versions: dict[str, str] = {}


@contextlib.contextmanager
def open_client(
    environment: Endpoint, *, timeout: int | None = None, max_pool_size: int | None = None
) -> Iterator[docker.DockerClient]:
    """A DockerClient for ``environment``'s endpoint, closed on exit: the one factory.

    Request-scoped callers take the defaults. Streams (logs, events, stats) pass
    ``max_pool_size`` sized for the streams they keep open at once, so they never hold
    the pooled connections of request-scoped clients; docker-py lifts the read timeout
    on a stream's socket once the response has started, so only connecting and the
    first answer are bounded by ``timeout``. A missing object raises
    :class:`ContainerMissing`, anything else Docker refuses :class:`EngineUnavailable`.

    TLS material lives in the database; the SDK wants files, so they exist only in a
    private temporary directory for the client's lifetime.
    """
    timeout = timeout or settings.DOCKER_TIMEOUT
    options = {"max_pool_size": max_pool_size} if max_pool_size else {}
    with tempfile.TemporaryDirectory(prefix="berth-tls-") as tmp:
        tls = _tls_config(environment, tmp) if environment.uses_tls else None
        known = _api_versions.get(environment.endpoint_url)
        try:
            client = docker.DockerClient(
                base_url=environment.endpoint_url,
                version=known or "auto",
                timeout=timeout,
                tls=tls,
                **options,
            )
            _api_versions[environment.endpoint_url] = client.api.api_version
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            raise EngineUnavailable(_unavailable(environment, exc)) from exc
        try:
            yield client
        except ContainerMissing:
            raise
        except docker.errors.NotFound as exc:
            if max_pool_size:  # a stream's object went away under it
                raise ContainerMissing(_reason(exc)) from exc
            raise EngineUnavailable(_unavailable(environment, exc)) from exc
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            raise EngineUnavailable(_unavailable(environment, exc)) from exc
        finally:
            client.close()


def _unavailable(environment: Endpoint, exc: BaseException) -> str:
    return (
        f"Cannot reach the Docker endpoint of {environment.name} "
        f"({environment.endpoint_url}): {_reason(exc)}."
    )


def _tls_config(environment: Endpoint, directory: str) -> TLSConfig:
    def write(name: str, content: str) -> str | None:
        if not content:
            return None
        path = os.path.join(directory, name)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
            handle.write(content)
        return path

    ca = write("ca.pem", environment.tls_ca_cert)
    cert = write("cert.pem", environment.tls_client_cert)
    key = write("key.pem", environment.tls_client_key)
    # Always verify the server: against the given CA, or the system's CAs without one.
    return TLSConfig(
        client_cert=(cert, key) if cert and key else None, ca_cert=ca, verify=ca or True
    )

"""What the engine needs to know of an endpoint, and checking an endpoint URL.

The adapter never imports Berth's models: it takes anything shaped like
:class:`Endpoint` (an Environment is one).
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import urlsplit

__all__ = ["ENDPOINT_FIELDS", "Endpoint", "validate_endpoint_url"]


class Endpoint(Protocol):
    """A Docker endpoint as the engine adapter sees it."""

    name: str
    slug: str
    endpoint_url: str
    mode: str
    tls_ca_cert: str
    tls_client_cert: str
    tls_client_key: str
    only_labelled_containers: bool

    @property
    def uses_tls(self) -> bool: ...


#: The fields of :class:`Endpoint`: what a caller reads of an environment (``.only``)
#: when it only hands it to this adapter.
ENDPOINT_FIELDS = (
    "name",
    "slug",
    "endpoint_url",
    "mode",
    "tls_ca_cert",
    "tls_client_cert",
    "tls_client_key",
    "only_labelled_containers",
)


SWARM = "swarm"


def validate_endpoint_url(url: str) -> str:
    """Normalise and check a Docker endpoint URL; raises ValueError with the reason."""
    url = (url or "").strip()
    if not url:
        raise ValueError("Give the Docker endpoint, e.g. unix:///var/run/docker.sock.")
    parts = urlsplit(url)
    if parts.scheme == "unix":
        if not parts.path.startswith("/") or parts.netloc:
            raise ValueError(
                f"{url!r} is not a socket path: write unix:///absolute/path/docker.sock "
                "(three slashes)."
            )
        return url
    if parts.scheme == "tcp":
        if parts.username is not None or parts.password is not None:
            raise ValueError(
                "Do not put credentials in the endpoint URL: Docker endpoints authenticate "
                "with TLS client certificates (the TLS fields)."
            )
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"{url!r} has an invalid port number.") from None
        if not parts.hostname:
            raise ValueError(f"{url!r} has no host: write tcp://host:2376.")
        if port is None:
            raise ValueError(f"{url!r} has no port: write tcp://{parts.hostname}:2376.")
        if not 1 <= port <= 65535:
            raise ValueError(f"{url!r}: the port must be between 1 and 65535.")
        if parts.path not in ("", "/") or parts.query:
            raise ValueError(f"{url!r}: a tcp:// endpoint is just host and port.")
        return f"tcp://{parts.netloc}"
    if parts.scheme in ("http", "https"):
        raise ValueError(f"{url!r}: Docker endpoints use tcp://host:port, not {parts.scheme}://.")
    raise ValueError(f"{url!r}: the endpoint must start with unix:// or tcp://.")

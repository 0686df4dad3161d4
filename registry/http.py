"""HTTP for the registry client, on urllib3: kept-alive connection pools, TLS, the
environment's proxies, redirects without credentials to other hosts.

The registry client used ``requests`` before. On loopback a registry answers a manifest
HEAD in well under a millisecond, and requests' layers (preparing the request, cookie
jars, hooks, the response object) added about 0.4 ms of CPU to every call, several per
promotion; urllib3, which requests runs on, does the same work for about a tenth of
that. What this module does the way requests did:

- proxies from ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``NO_PROXY`` (read once per scheme and
  host: restart the process after changing them);
- TLS verified against ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` when set, else
  certifi's bundle; or not verified at all when the registry is configured so;
- redirects followed (up to 10), the ``Authorization`` header dropped on one to another
  host (urllib3's default);
- connection, TLS and timeout failures raised as :class:`TransportError` subclasses.

Credentials come from the registry's settings only (a netrc file is not read).
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterator, Mapping
from urllib.parse import urlencode, urlsplit

import certifi
import urllib3
from requests.utils import get_environ_proxies
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ReadTimeoutError,
    SSLError,
)

__all__ = ["Response", "TLSFailure", "Timeout", "Transport", "TransportError", "basic_auth"]

_MAX_REDIRECTS = 10
_POOL_SIZE = 10  # connections kept per host, as requests keeps


class TransportError(Exception):
    """The request did not get an answer: the host could not be reached or the
    connection broke."""


class TLSFailure(TransportError):
    """The TLS handshake failed (certificate, protocol)."""


class Timeout(TransportError):
    """No connection or no answer within the timeout."""


def basic_auth(username: str, password: str) -> str:
    """An ``Authorization`` value for HTTP Basic (latin-1 as requests, else UTF-8)."""
    pair = f"{username}:{password}"
    try:
        raw = pair.encode("latin-1")
    except UnicodeEncodeError:
        raw = pair.encode("utf-8")
    return "Basic " + base64.b64encode(raw).decode("ascii")


class Response:
    """An answer: status, headers (case-insensitive), the body read whole, or streamed
    with :meth:`iter_content` when asked for with ``stream=True``."""

    def __init__(self, raw: urllib3.BaseHTTPResponse, streamed: bool):
        self._raw = raw
        self._streamed = streamed
        self.status_code = raw.status
        self.headers = raw.headers

    @property
    def content(self) -> bytes:
        return self._raw.data

    def json(self):
        return json.loads(self.content)

    def iter_content(self, size: int) -> Iterator[bytes]:
        try:
            yield from self._raw.stream(size)
        except (ReadTimeoutError, ConnectTimeoutError) as exc:
            raise Timeout(str(exc)) from exc
        except HTTPError as exc:
            raise TransportError(str(exc)) from exc

    def close(self) -> None:
        if self._streamed:
            self._raw.close()  # maybe not read to the end: not reusable
            self._raw.release_conn()


class Transport:
    """Connection pools of one client. Thread-safe. ``headers`` go with every request
    (under the request's own); ``verify`` is read when the first request is sent."""

    def __init__(self):
        self.headers: dict[str, str] = {}
        self.verify = True
        self._direct: urllib3.PoolManager | None = None
        self._proxied: dict[str, urllib3.ProxyManager] = {}
        self._proxies: dict[tuple, str | None] = {}
        self._lock = threading.Lock()

    def request(
        self,
        method: str,
        url: str,
        *,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        data=None,
        stream: bool = False,
    ) -> Response:
        """Send one request; ``data`` is bytes or an iterator of bytes (sent chunked)."""
        chunked = data is not None and not isinstance(data, bytes | bytearray | str)
        try:
            raw = self._manager(url).urlopen(
                method,
                url,
                body=data,
                headers={**self.headers, **(headers or {})},
                chunked=chunked,
                preload_content=not stream,
                redirect=True,
                retries=urllib3.Retry(
                    total=None,
                    connect=0,
                    read=0,
                    status=0,
                    other=0,
                    redirect=_MAX_REDIRECTS,
                    raise_on_redirect=True,
                    raise_on_status=False,
                ),  # fmt: skip
                timeout=urllib3.Timeout(connect=timeout, read=timeout),
            )
        except MaxRetryError as exc:
            raise _failure(exc.reason or exc) from exc
        except HTTPError as exc:
            raise _failure(exc) from exc
        return Response(raw, stream)

    def get(self, url: str, *, params: dict, auth: tuple[str, str] | None, timeout: float):
        """A GET with query parameters (a list value repeats its name) and optional Basic
        credentials: a token server's."""
        query = urlencode(params, doseq=True)
        headers = {"Authorization": basic_auth(*auth)} if auth else {}
        separator = "&" if urlsplit(url).query else "?"
        return self.request("GET", f"{url}{separator}{query}", timeout=timeout, headers=headers)

    def _manager(self, url: str) -> urllib3.PoolManager:
        scheme, netloc = urlsplit(url)[:2]
        with self._lock:
            key = (scheme, netloc)
            if key not in self._proxies:
                self._proxies[key] = get_environ_proxies(url).get(scheme)
            proxy = self._proxies[key]
            tls = self._tls()
            if proxy is None:
                if self._direct is None:
                    self._direct = urllib3.PoolManager(maxsize=_POOL_SIZE, **tls)
                return self._direct
            if proxy not in self._proxied:
                self._proxied[proxy] = urllib3.ProxyManager(proxy, maxsize=_POOL_SIZE, **tls)
            return self._proxied[proxy]

    def _tls(self) -> dict:
        if not self.verify:
            return {"cert_reqs": "CERT_NONE"}
        bundle = (
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        ) or certifi.where()
        return {"cert_reqs": "CERT_REQUIRED", "ca_certs": bundle}


def _failure(exc: BaseException) -> TransportError:
    if isinstance(exc, SSLError):
        return TLSFailure(str(exc))
    if isinstance(exc, NewConnectionError):  # a subclass of ConnectTimeoutError in urllib3 2
        return TransportError(str(exc))
    if isinstance(exc, ConnectTimeoutError | ReadTimeoutError):
        return Timeout(str(exc))
    return TransportError(str(exc))

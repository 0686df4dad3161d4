"""The HAProxy adapter: rendering its configuration, talking to its Runtime API and
running its process. Like :mod:`environments.engine` it imports no models, access or
domain code: callers hand it plain descriptions (:class:`Frontend`, :class:`Backend`,
:class:`Server`) and get text, answers or :class:`ProxyUnavailable` back.
"""

from environments.proxy.config import Backend, Frontend, Server, backend_name, render, writable
from environments.proxy.process import ExternalProxy, ProxyProcess
from environments.proxy.runtime import ProxyUnavailable, RuntimeAPI, ServerStat

__all__ = [
    "Backend",
    "ExternalProxy",
    "Frontend",
    "ProxyProcess",
    "ProxyUnavailable",
    "RuntimeAPI",
    "Server",
    "ServerStat",
    "backend_name",
    "render",
    "writable",
]

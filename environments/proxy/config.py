"""HAProxy's configuration file from plain descriptions: a pure function.

One frontend per listen port; name-based routing by the request's Host (without its
port) when entry points on a port carry host names, and the entry point without a host
name (if any) as the default. One backend per service and environment, whose servers
are the replicas Berth added, in their state (ready, drain, maint) and weight, so a
restarted proxy comes back exactly as Berth's records say. HAProxy's own checks use the
service's HTTP health check (path, interval, retries): a replica that starts failing
leaves the rotation within ``interval x retries``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Backend", "Frontend", "Server", "backend_name", "render"]

SERVER_STATES = ("ready", "drain", "maint")
_NAME = re.compile(r"[^A-Za-z0-9_.-]")


def backend_name(environment: str, service: str) -> str:
    """The backend of ``service`` in ``environment`` (slugs: safe as HAProxy names)."""
    return "be_" + _NAME.sub("_", f"{environment}.{service}")


@dataclass(frozen=True)
class Server:
    """One replica behind a backend."""

    name: str
    port: int
    state: str = "ready"
    weight: int = 100
    address: str = "127.0.0.1"

    def line(self, backend: Backend) -> str:
        parts = [f"server {self.name} {self.address}:{self.port}", f"weight {self.weight}"]
        parts += backend.check_options()
        if self.state == "maint":
            parts.append("disabled")
        elif self.state == "drain":
            parts[1] = "weight 0"  # the config form of drain: no new requests
        return " ".join(parts)


@dataclass(frozen=True)
class Backend:
    """A service's replicas in one environment, and how HAProxy checks them."""

    name: str
    servers: tuple[Server, ...] = ()
    http_path: str | None = None
    check_port: int | None = None
    interval: float = 2.0
    fall: int = 3

    def check_options(self) -> list[str]:
        options = ["check", f"inter {int(self.interval * 1000)}ms", f"fall {self.fall}", "rise 1"]
        if self.check_port:
            options.append(f"port {self.check_port}")
        return options


@dataclass(frozen=True)
class Frontend:
    """A listen port and the backends it routes to: ``routes`` maps a host name (""
    for the default) to a backend name."""

    port: int
    routes: dict[str, str] = field(default_factory=dict)
    bind: str = "127.0.0.1"


def writable(value: str) -> bool:
    """Whether ``value`` can go into an HAProxy configuration as one word."""
    return bool(value) and not any(c.isspace() or c in "#\\'\"" for c in value)


def _check(value: str, what: str) -> str:
    if not writable(value):
        raise ValueError(f"{what} {value!r} cannot go into an HAProxy configuration.")
    return value


def render(
    frontends: list[Frontend],
    backends: list[Backend],
    *,
    run_dir: Path,
    hard_stop_after: int = 60,
    with_global: bool = True,
) -> str:
    """The whole configuration; the same input always gives the same text, so a caller
    reloads only when it changed. ``with_global=False``: only Berth's defaults, frontends
    and backends, a file an HAProxy run by someone else loads beside its own (whose
    ``global`` section has the admin socket)."""
    lines = ["# Written by Berth from its records; edits are overwritten."]
    if with_global:
        lines += [
            "global",
            "    master-worker",
            f"    pidfile {run_dir / 'haproxy.pid'}",
            f"    stats socket {run_dir / 'admin.sock'} mode 600 level admin expose-fd listeners",
            "    stats timeout 10s",
            f"    hard-stop-after {hard_stop_after}s",
            "",
        ]
    lines += [
        "defaults",
        "    mode http",
        "    timeout connect 2s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    timeout http-keep-alive 5s",
        "    timeout queue 10s",
        # A request that could not reach a replica (connection refused, or closed before
        # any byte of an answer) goes to another one instead of failing.
        "    retries 3",
        "    option redispatch 1",
        "    retry-on conn-failure empty-response",
        "",
    ]
    known = {backend.name for backend in backends}
    for frontend in sorted(frontends, key=lambda f: f.port):
        lines += [
            f"frontend fe_{frontend.port}",
            f"    bind {_check(frontend.bind, 'Address')}:{frontend.port}",
        ]
        named = sorted((h, b) for h, b in frontend.routes.items() if h)
        for index, (host, backend) in enumerate(named):
            if backend not in known:
                raise ValueError(f"Frontend {frontend.port} routes to unknown {backend}.")
            lines += [
                f"    acl host_{index} req.hdr(host),lower,field(1,:) -m str {_check(host, 'Host')}",
                f"    use_backend {backend} if host_{index}",
            ]
        default = frontend.routes.get("")
        if default:
            lines.append(f"    default_backend {default}")
        lines.append("")
    for backend in sorted(backends, key=lambda b: b.name):
        lines += [f"backend {backend.name}", "    balance roundrobin"]
        if backend.http_path:
            lines.append(f"    option httpchk GET {_check(backend.http_path, 'Path')}")
        for server in sorted(backend.servers, key=lambda s: s.name):
            if server.state not in SERVER_STATES:
                raise ValueError(f"Unknown server state {server.state!r}.")
            lines.append("    " + server.line(backend))
        lines.append("")
    return "\n".join(lines)

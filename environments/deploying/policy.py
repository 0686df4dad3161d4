"""An environment's deploy policy: what a service config may ask of the engine's host.

Administrators set it per environment (``allow_host_network``, ``allowed_bind_mounts``);
it is checked when a config is saved and again when it is deployed, since the policy may
have changed in between. Whatever the policy says, no config may mount a Docker socket,
Berth's own data or code, or a directory that holds one of them: from there a deployer
of one environment would reach every other.
"""

from __future__ import annotations

import posixpath
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from environments import entry_rules
from environments.access import can
from environments.deploying.strategies.base import GREEN_PORT_OFFSET
from environments.models import EntryPoint, Environment, ServiceConfig
from portal.core.host_paths import SYSTEM_DIRS, berth_dirs, dotdot_problem, under

__all__ = [
    "bound_ports", "check_config", "check_entry_ports", "check_entry_reservations", "check_ports",
    "check_reservation_unbound",
    "forbidden_paths",
]  # fmt: skip

SOCKET_PATHS = ("/var/run/docker.sock", "/run/docker.sock", "/var/run", "/run/docker")


def forbidden_paths(environment) -> list[str]:
    """Host paths no config may bind-mount, nor any directory above them."""
    paths = [*SOCKET_PATHS, *berth_dirs()]
    endpoint = urlsplit(environment.endpoint_url or "")
    if endpoint.scheme == "unix" and endpoint.path:
        paths.append(endpoint.path)
    return [posixpath.normpath(path) for path in paths]


def _bind_mount_error(environment, source: str) -> str | None:
    if problem := dotdot_problem(source):
        return problem
    path = posixpath.normpath(source)
    if path in SYSTEM_DIRS:
        return f"{path} is a system directory and is never mounted."
    for forbidden in forbidden_paths(environment):
        if under(path, forbidden) or under(forbidden, path) or path.endswith("docker.sock"):
            return (
                f"{path} holds a Docker socket or Berth's own files: no environment may mount it."
            )
    allowed = [posixpath.normpath(p) for p in environment.allowed_bind_mounts or []]
    if not allowed:
        return (
            f"{environment.name} allows no host directories: use a named volume, or ask an "
            "administrator to allow a path prefix in the environment's deploy policy."
        )
    if not any(under(path, prefix) for prefix in allowed):
        return f"{path} is outside what {environment.name} allows: {', '.join(sorted(allowed))}."
    return None


def check_config(environment, config: dict) -> None:
    """Raise ValidationError, each message keyed by the field and naming the rule, when
    the validated ``config`` asks for more than ``environment``'s policy allows."""
    errors: dict[str, str] = {}
    strategy = (config.get("strategy") or {}).get("type")
    if strategy == "swarm" and environment.mode != "swarm":
        errors["strategy.type"] = (
            f"{environment.name} is a standalone engine: use recreate, rolling or "
            "blue-green, or ask an administrator to switch it to Swarm mode."
        )
    if config.get("network_mode") == "host" and not environment.allow_host_network:
        errors["network_mode"] = (
            f"{environment.name}'s deploy policy does not allow host networking: use "
            "none, or ask an administrator to allow it."
        )
    for index, volume in enumerate(config.get("volumes") or []):
        source = volume.split(":", 1)[0]
        if source.startswith("/"):
            problem = _bind_mount_error(environment, source)
            if problem:
                errors[f"volumes.{index}"] = problem
    if (highest := max(bound_ports(config), default=0)) > 65535:
        errors["port"] = (
            f"The replicas would bind up to port {highest}, past 65535: replica n binds base "
            f"+ n - 1 (green ones {GREEN_PORT_OFFSET} higher), so lower the base port."
        )
    if errors:
        raise ValidationError(errors)


def bound_ports(config: dict) -> set[int]:
    """The host ports a validated config's replicas bind on host networking: the base
    port plus the slot, and the other colour's too where a deploy starts new replicas
    beside the old ones (blue-green, rolling with a surge); an HTTP health
    check's own port."""
    if config.get("network_mode", "host") != "host":
        return set()
    ports: set[int] = set()
    base = config.get("port")
    replicas = max(int(config.get("replicas") or 0), 1)
    if base:
        ports.update(base + slot for slot in range(replicas))
        strategy = config.get("strategy") or {}
        # Blue-green, and rolling with a surge (start-first), start the new replicas on
        # the other colour's ports while the old ones still serve.
        if strategy.get("type") == "blue-green" or (
            strategy.get("type") == "rolling" and strategy.get("max_surge", 1)
        ):
            ports.update(base + GREEN_PORT_OFFSET + slot for slot in range(replicas))
    health_port = (config.get("health_check") or {}).get("port")
    if health_port:
        ports.add(health_port)
    return ports


def _current_configs(service=None, environment=None, endpoint_url: str | None = None):
    """The current config of every (service, environment) but the one given, on one
    engine if ``endpoint_url`` is given."""
    latest = ServiceConfig.objects.all()
    if service is not None:
        latest = latest.exclude(service=service, environment=environment)
    if endpoint_url is not None:
        latest = latest.filter(environment__endpoint_url=endpoint_url)
    seen: set[tuple[int, int]] = set()
    for other in (
        latest.order_by("service_id", "environment_id", "-revision")
        .select_related("service", "environment")
        .iterator()
    ):
        key = (other.service_id, other.environment_id)
        if key not in seen:
            seen.add(key)
            yield other


def _owner(user, service, environment) -> str:
    """Who holds something, named only to someone who can see its environment."""
    if can(user, environment, "view_environment"):
        return f"{service.name} in {environment.name}"
    return "a service in an environment you cannot see"


def _listing(ports) -> str:
    ports = sorted(ports)
    return f"{'Ports' if len(ports) > 1 else 'Port'} {', '.join(str(p) for p in ports[:5])}"


def check_ports(user, service, environment, config: dict) -> None:
    """Raise ValidationError on ``port`` when the config would bind a port that another
    service's current config binds on the same engine (same endpoint), in any
    environment, or that an entry point of the proxy listens on: containers on host
    networking share the host's ports, and the second one would fail to bind while a
    health check answered from the first. The owner is named when the user can see its
    environment."""
    wanted = bound_ports(config)
    if not wanted:
        return
    for other in _current_configs(service, environment, environment.endpoint_url):
        clash = wanted & bound_ports(other.document)
        if clash:
            raise ValidationError({"port": (
                f"{_listing(clash)} {'are' if len(clash) > 1 else 'is'} already bound on this "
                f"engine by {_owner(user, other.service, other.environment)}: choose another "
                f"base port (replica n binds base + n - 1, green ones {GREEN_PORT_OFFSET} higher)."
            )})  # fmt: skip
    entry = (
        EntryPoint.objects.filter(port__in=wanted)
        .exclude(service=service, environment=environment)
        .select_related("service", "environment")
        .order_by("port")
        .first()
    )
    if entry:
        raise ValidationError({"port": (
            f"Port {entry.port} is an entry point of {_owner(user, entry.service, entry.environment)}"
            " (the proxy listens on it): choose another base port (replica n binds base + n - 1, "
            f"green ones {GREEN_PORT_OFFSET} higher)."
        )})  # fmt: skip


def check_entry_ports(user, service, environment, config: dict) -> None:
    """Raise ValidationError on ``entry_points.<n>`` for an entry point on a port another
    service's replicas bind (blue, green or health check), in any environment and on any
    engine: the proxy runs on the engines' host, so it would stop that service's next
    deployment with "address in use". Owners are named as :func:`check_ports` names them."""
    wanted = {entry["port"]: index for index, entry in enumerate(config.get("entry_points") or [])}
    if not wanted:
        return
    errors: dict[str, str] = {}
    for other in _current_configs(service, environment):
        for port in bound_ports(other.document) & wanted.keys():
            errors.setdefault(f"entry_points.{wanted[port]}", (
                f"Port {port} is bound by the replicas of "
                f"{_owner(user, other.service, other.environment)}: an entry point needs a "
                "port no replica binds."
            ))  # fmt: skip
    if errors:
        raise ValidationError(errors)


def check_reservation_unbound(user, ports: str, before: str = "") -> None:
    """Raise ValidationError on ``entry_ports`` when a port newly reserved (in ``ports``,
    not in ``before``) is bound by the replicas of a current config, in any environment:
    the proxy could not listen there, and their next deployment would be refused."""
    reserved = entry_rules.parse_ports(ports)
    kept = entry_rules.parse_ports(before)
    if not reserved:
        return
    for other in _current_configs():
        hit = [
            port for port in bound_ports(other.document)
            if entry_rules.in_ranges(port, reserved) and not entry_rules.in_ranges(port, kept)
        ]  # fmt: skip
        if hit:
            raise ValidationError({"entry_ports": (
                f"{_listing(hit)} {'are' if len(hit) > 1 else 'is'} bound by the replicas of "
                f"{_owner(user, other.service, other.environment)}: give them other ports "
                "first, or reserve other ports."
            )})  # fmt: skip


def check_entry_reservations(user, environment, config: dict) -> None:
    """Raise ValidationError on ``entry_points.<n>`` for an entry point on a port or host
    name another environment reserves, or outside what ``environment`` reserves for
    itself when it reserves any (``Environment.entry_ports`` and ``entry_hosts``, set
    by administrators: so Dev cannot take first the port or name production wants); and
    on ``port`` when the replicas would bind a port reserved for entry points, anyone's
    (the proxy could then not listen on it). The other environment is named only to
    someone who can see it."""
    entries = config.get("entry_points") or []
    bound = bound_ports(config)
    if not entries and not bound:
        return
    everyone = list(Environment.objects.only("name", "entry_ports", "entry_hosts"))
    reserved = [(e, entry_rules.parse_ports(e.entry_ports)) for e in everyone if e.entry_ports]
    errors: dict[str, list[str]] = {}
    for holder, ranges in reserved:
        if hit := [port for port in bound if entry_rules.in_ranges(port, ranges)]:
            errors.setdefault("port", []).append(
                f"{_listing(hit)} {'are' if len(hit) > 1 else 'is'} reserved for the entry "
                f"points of {_named(user, holder)}: replicas bind other ports."
            )
    own_ports = entry_rules.parse_ports(environment.entry_ports)
    reservations = [(e, e.entry_hosts or []) for e in everyone if e.pk != environment.pk]
    reservations.append((environment, environment.entry_hosts or []))
    for index, entry in enumerate(entries):
        port, host, problems = entry["port"], entry["host"], []
        holder = next(
            (
                e
                for e, ranges in reserved
                if e.pk != environment.pk and entry_rules.in_ranges(port, ranges)
            ),
            None,
        )
        if holder is not None:
            problems.append(
                f"Port {port} is reserved for the entry points of {_named(user, holder)}."
            )
        elif own_ports and not entry_rules.in_ranges(port, own_ports):
            problems.append(
                f"Port {port} is not among {environment.name}'s entry ports "
                f"({environment.entry_ports}): choose one of them."
            )
        owner = entry_rules.host_owner(host, reservations) if host else None
        if owner is not None and owner != environment:
            problems.append(
                f"The host name {host} is reserved for the entry points of {_named(user, owner)}."
            )
        elif host and owner is None and environment.entry_hosts:
            problems.append(
                f"The host name {host} is not among {environment.name}'s entry host names "
                f"({', '.join(environment.entry_hosts)}): use one of them."
            )
        if problems:
            errors[f"entry_points.{index}"] = problems
    if errors:
        raise ValidationError(errors)


def _named(user, environment) -> str:
    return environment.name if can(user, environment, "view_environment") else "another environment"

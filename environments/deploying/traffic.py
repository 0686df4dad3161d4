"""Traffic: entry points claimed by configs, the proxy that serves them, and the
replicas a deployment adds to it, drains and removes.

Berth's records (:class:`~environments.models.EntryPoint`,
:class:`~environments.models.ProxyServer`) are the proxy's state: every change is
written there first, then applied through HAProxy's Runtime API without a reload. When
a frontend changes, the configuration rendered from the records is reloaded hitlessly.
When the proxy is not running (first use, or it died), :func:`ensure_proxy` starts it
from the records, so it comes back exactly as Berth left it; a deployment that finds
the proxy gone waits for it (up to ``BERTH_PROXY_WAIT`` seconds) and otherwise fails
cleanly, leaving the old replicas serving.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from environments import proxy
from environments.access import can
from environments.models import Deployment, EntryPoint, ProxyServer, Service

__all__ = [
    "TaskServer",
    "Traffic",
    "backend_of",
    "claim_entry_points",
    "ensure_proxy",
    "entry_point_deleted",
    "entry_point_state",
    "proxy_process",
    "release_deployment",
    "render_config",
    "retire_standby",
    "server_name",
    "standby_until",
    "supervise_forever",
    "switch_back",
    "sync_frontends",
]

log = logging.getLogger(__name__)


def proxy_process() -> proxy.ProxyProcess:
    """The proxy of this host: the one Berth runs (embedded), or the one it drives
    (external)."""
    if settings.PROXY_MODE == "external":
        return proxy.ExternalProxy(
            Path(settings.PROXY_DIR), socket_path=Path(settings.PROXY_SOCKET),
            config_path=Path(settings.PROXY_CONFIG), reload_command=settings.PROXY_RELOAD_COMMAND,
        )  # fmt: skip
    return proxy.ProxyProcess(Path(settings.PROXY_DIR))


def server_name(deployment_id: int, slot: int) -> str:
    return f"d{deployment_id}-s{slot + 1}"


def backend_of(service: Service, environment) -> proxy.Backend:
    """The backend of ``service`` in ``environment``, with how HAProxy checks it (the
    config's HTTP health check) and the servers Berth's records list."""
    config = service.current_config(environment)
    health = (config.document.get("health_check") if config else None) or {}
    servers = tuple(
        proxy.Server(name=row.name, port=row.port, state=row.state, weight=row.weight)
        for row in ProxyServer.objects.filter(service=service, environment=environment)
    )
    http_path = health.get("http_path")
    if http_path and not proxy.writable(http_path):  # saved before paths were checked
        log.error("%s in %s: health check path %r left out of the proxy's checks.",
                  service.name, environment.slug, http_path)  # fmt: skip
        http_path = None
    return proxy.Backend(
        name=proxy.backend_name(environment.slug, service.name),
        servers=servers,
        http_path=http_path,
        check_port=health.get("port") if http_path else None,
        interval=float(health.get("interval", 2.0)),
        fall=int(health.get("retries", 3)),
    )


def _desired(with_servers: bool = True) -> tuple[list[proxy.Frontend], list[proxy.Backend]]:
    frontends: dict[int, dict[str, str]] = {}
    backends: dict[str, proxy.Backend] = {}
    for entry in EntryPoint.objects.select_related("service", "environment"):
        if entry.host and not proxy.writable(entry.host):  # saved before hosts were checked
            log.error("Entry point %s:%s of %s left out of the proxy: not a host name.",
                      entry.host, entry.port, entry.service.name)  # fmt: skip
            continue
        backend = backend_of(entry.service, entry.environment)
        if not with_servers:
            backend = proxy.Backend(name=backend.name, http_path=backend.http_path)
        backends[backend.name] = backend
        frontends.setdefault(entry.port, {})[entry.host] = backend.name
    return (
        [
            proxy.Frontend(port, routes, bind=settings.PROXY_BIND)
            for port, routes in frontends.items()
        ],
        list(backends.values()),
    )


def render_config() -> str:
    """HAProxy's configuration as Berth's records describe it (for an external proxy,
    without the global section, which is its owner's)."""
    frontends, backends = _desired()
    return proxy.render(
        frontends, backends, run_dir=Path(settings.PROXY_DIR),
        with_global=settings.PROXY_MODE != "external",
    )  # fmt: skip


def _frontend_signature() -> str:
    frontends, backends = _desired(with_servers=False)
    return proxy.render(
        frontends, backends, run_dir=Path(settings.PROXY_DIR),
        with_global=settings.PROXY_MODE != "external",
    )  # fmt: skip


def ensure_proxy() -> proxy.ProxyProcess | None:
    """The running proxy, started from the records if it is not running (first use, or
    it died). None when no entry point exists or the proxy is off."""
    if settings.PROXY_MODE == "off" or not EntryPoint.objects.exists():
        return None
    process = proxy_process()
    if process.running():
        return process
    with process.lock():
        if not process.running():
            process.start(render_config())
            (process.run_dir / "frontends").write_text(_frontend_signature())
            log.warning("Started the traffic proxy from Berth's records (%s).", process.run_dir)
    return process


def sync_frontends() -> None:
    """Reload the proxy (hitless) if its frontends changed since it last loaded; start
    it if it is not running. Called after a config with entry points is saved."""
    if settings.PROXY_MODE == "off":
        return
    process = proxy_process()
    if not EntryPoint.objects.exists() and not process.running():
        return  # nothing to serve, and nothing served that must stop
    signature = _frontend_signature()
    with process.lock():
        marker = process.run_dir / "frontends"
        if not process.running():
            process.start(render_config())
        elif not marker.exists() or marker.read_text() != signature:
            process.reload(render_config())
        marker.write_text(signature)


def claim_entry_points(user, service: Service, environment, config: dict) -> None:
    """Claim the config's entry points for ``service`` in ``environment`` (inside the
    caller's transaction), refusing what another one holds, naming the owner when
    ``user`` can see its environment.

    A port belongs to one environment: the proxy's frontend on it routes by host name
    between services of that environment only, so no other environment can add a
    host-named route (or a default one) that takes its traffic. Within an environment,
    a port with its host name, and a host name, belong to one service. A port another
    program listens on is refused too (the proxy would not start with it)."""
    wanted = config.get("entry_points") or []
    others = EntryPoint.objects.exclude(service=service, environment=environment).select_related(
        "service", "environment"
    )
    errors: dict[str, list[str]] = {}
    held = set(EntryPoint.objects.values_list("port", flat=True))
    for index, entry in enumerate(wanted):
        port, host = entry["port"], entry["host"]
        clash = (
            others.filter(port=port).exclude(environment=environment).first()
            or others.filter(Q(port=port, host=host) | (Q(host=host) & ~Q(host=""))).first()
        )
        if clash:
            owner = (
                f"{clash.service} in {clash.environment.name}"
                if can(user, clash.environment, "view_environment")
                else "a service in an environment you cannot see"
            )
            if clash.port != port:
                what = f"The host name {host} is already the entry point of {owner}."
            elif clash.environment_id != environment.pk:
                what = f"Port {port} is already an entry point of {owner}: a port serves one environment."
            else:
                what = f"Port {port}{f' for {host}' if host else ''} is already the entry point of {owner}."
            errors.setdefault(f"entry_points.{index}", []).append(what)
        elif port not in held and (problem := _port_taken(port)):
            errors.setdefault(f"entry_points.{index}", []).append(problem)
    if errors:
        raise ValidationError(errors)
    current = {
        (e.port, e.host): e
        for e in EntryPoint.objects.filter(service=service, environment=environment)
    }
    keep = {(e["port"], e["host"]) for e in wanted}
    for key, row in current.items():
        if key not in keep:
            row.delete()
    for port, host in keep - set(current):
        EntryPoint.objects.create(service=service, environment=environment, port=port, host=host)
    if not keep:  # no entry point left: its replicas are no longer behind the proxy
        ProxyServer.objects.filter(service=service, environment=environment).delete()
    if set(current) != keep:
        transaction.on_commit(_sync_quietly)


def _port_taken(port: int) -> str:
    """Why the embedded proxy could not listen on ``port`` (another program holds it),
    or "". An external proxy runs elsewhere: its owner keeps its ports free."""
    if settings.PROXY_MODE != "embedded":
        return ""
    probe = socket.socket(socket.AF_INET6 if ":" in settings.PROXY_BIND else socket.AF_INET)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((settings.PROXY_BIND, port))
    except PermissionError:
        return f"Port {port} needs privileges the proxy does not have here: choose one above 1023."
    except OSError:
        return f"Port {port} is in use on the proxy's host by another program: choose another."
    finally:
        probe.close()
    return ""


def entry_point_deleted(sender, instance, **kwargs) -> None:
    """``post_delete`` of an entry point: reload the proxy from the records after commit,
    so its frontend (and its backend's servers) go with it. Deleting several at once
    reloads once; the later calls find nothing changed."""
    transaction.on_commit(_sync_quietly)


def _sync_quietly() -> None:
    try:
        sync_frontends()
    except proxy.ProxyUnavailable as exc:  # the supervisor retries; the save stands
        log.warning("Could not apply entry points to the proxy: %s", exc)


@dataclass(frozen=True)
class TaskServer:
    """A Swarm task that serves (or served) an entry point, as the proxy addresses it."""

    deployment_id: int
    slot: int
    port: int
    colour: str
    container_id: str

    @property
    def name(self) -> str:
        return server_name(self.deployment_id, self.slot)


class Traffic:
    """A deployment's hand on its service's entry points. Without entry points (or
    with the proxy off) every method does nothing, so strategies call it
    unconditionally. On a Swarm (``follows_tasks``) only :meth:`follow` acts: Swarm
    starts and stops the tasks, the proxy follows. ``fail`` is the strategy's failure
    exception."""

    def __init__(self, deployment, config: dict, progress, fail: type[Exception]):
        self.deployment = deployment
        self.service = deployment.service
        self.environment = deployment.environment
        self.progress = progress
        self.fail = fail
        routed = (
            bool(config.get("entry_points"))
            and settings.PROXY_MODE != "off"
            and EntryPoint.objects.filter(
                service=self.service, environment=self.environment
            ).exists()
        )
        self.follows_tasks = routed and deployment.environment.mode == "swarm"
        self.enabled = routed and not self.follows_tasks
        self.backend = proxy.backend_name(self.environment.slug, self.service.name)
        self._waited = False

    def _rows(self):
        return ProxyServer.objects.filter(service=self.service, environment=self.environment)

    def _call(self, action):
        """Run ``action(runtime)`` on the proxy, starting it from the records if needed;
        while it does not answer, wait up to BERTH_PROXY_WAIT seconds, then fail."""
        deadline = time.monotonic() + settings.PROXY_WAIT
        while True:
            try:
                process = ensure_proxy()
                return action(process.runtime) if process else None
            except proxy.ProxyUnavailable as exc:
                if time.monotonic() > deadline:
                    raise self.fail(f"The traffic proxy is unavailable: {exc}") from exc
                if not self._waited:
                    self._waited = True
                    self.progress.step(
                        "The traffic proxy does not answer; waiting for it to come back",
                        kind="traffic", state="waiting",
                    )  # fmt: skip
                self.progress.beat()
                time.sleep(0.3)

    def join(
        self, container_id: str, slot: int, port: int | None, colour: str, *, state="ready"
    ) -> None:
        """Add a new, healthy replica to the entry points (``state`` ready, or drain to
        stand by for a switch)."""
        if not self.enabled or not port:
            return
        name = server_name(self.deployment.pk, slot)
        ProxyServer.objects.update_or_create(
            service=self.service, environment=self.environment, name=name,
            defaults={"deployment": self.deployment, "container_id": container_id, "slot": slot,
                      "port": port, "colour": colour, "state": state, "retire_after": None},
        )  # fmt: skip
        backend = backend_of(self.service, self.environment)
        self._call(lambda api: api.add_server(backend, proxy.Server(name, port, state)))
        if state == "ready":
            self.progress.step(
                f"Replica {slot + 1} added to the entry point", kind="traffic", slot=slot,
                state="ready", server=name,
            )  # fmt: skip

    def _names(self, container_ids: list[str]) -> list[ProxyServer]:
        return list(self._rows().filter(container_id__in=container_ids))

    def drain(self, container_ids: list[str], timeout: float) -> None:
        """Take replicas out of rotation and wait until their connections end (or
        ``timeout`` seconds)."""
        rows = self._names(container_ids) if self.enabled else []
        if not rows:
            return
        self._rows().filter(pk__in=[r.pk for r in rows]).update(state=ProxyServer.State.DRAIN)
        for row in rows:
            self.progress.step(
                f"Draining replica {row.slot + 1} ({row.name})", kind="traffic", slot=row.slot,
                state="draining", server=row.name,
            )  # fmt: skip
        self._call(lambda api: api.switch(self.backend, [], [r.name for r in rows]))
        self._wait_idle([r.name for r in rows], timeout)

    def _wait_idle(self, names: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = self._call(
                lambda api: sum(
                    s.sessions for s in api.stats() if s.backend == self.backend and s.name in names
                )
            )
            if not busy:
                return
            self.progress.beat()
            time.sleep(0.1)
        self.progress.step(
            f"Drain timeout ({timeout:g} s) reached; stopping anyway", kind="traffic"
        )

    def restore(self, container_ids: list[str]) -> None:
        """Put replicas back in rotation (after a failed deployment)."""
        rows = self._names(container_ids) if self.enabled else []
        if rows:
            self._rows().filter(pk__in=[r.pk for r in rows]).update(
                state=ProxyServer.State.READY, retire_after=None
            )
            self._call(lambda api: api.switch(self.backend, [r.name for r in rows], []))
            self.progress.step(f"{len(rows)} previous replica(s) back in rotation", kind="traffic")

    def leave(self, container_ids: list[str]) -> None:
        """Remove replicas from the entry points for good."""
        rows = self._names(container_ids) if self.enabled else []
        for row in rows:
            row.delete()
            self._call(lambda api, name=row.name: api.remove_server(self.backend, name))

    def switch(self, ready_ids: list[str], away_ids: list[str], drain_timeout: float) -> None:
        """New replicas (joined in ``drain`` state) into rotation and old ones out of it
        in one Runtime API message, so clients switch once; then wait until the old ones
        finished their connections (or ``drain_timeout``)."""
        if not self.enabled:
            return
        ready, away = self._names(ready_ids), self._names(away_ids)
        with transaction.atomic():
            self._rows().filter(pk__in=[r.pk for r in ready]).update(state=ProxyServer.State.READY)
            self._rows().filter(pk__in=[r.pk for r in away]).update(state=ProxyServer.State.DRAIN)
        for row in ready:
            self.progress.step(
                f"Replica {row.slot + 1} added to the entry point", kind="traffic",
                slot=row.slot, state="ready", server=row.name,
            )  # fmt: skip
        for row in away:
            self.progress.step(
                f"Draining replica {row.slot + 1} ({row.name})", kind="traffic", slot=row.slot,
                state="draining", server=row.name,
            )  # fmt: skip
        self._call(
            lambda api: api.switch(self.backend, [r.name for r in ready], [r.name for r in away])
        )
        if away:
            self._wait_idle([r.name for r in away], drain_timeout)

    def follow(self, serving: list[TaskServer], stopping: list[TaskServer]) -> None:
        """Make the entry point's backends the Swarm tasks that serve: new ones join,
        those Swarm is stopping drain (no new requests; what they serve ends), those
        gone leave. The records first, then one Runtime API message per change."""
        if not self.follows_tasks:
            return
        rows = {row.name: row for row in self._rows()}
        known = set(
            Deployment.objects.filter(
                pk__in={t.deployment_id for t in [*serving, *stopping]}
            ).values_list("pk", flat=True)
        )
        backend = backend_of(self.service, self.environment)
        for task in serving:
            row = rows.get(task.name)
            if row is not None and (row.state, row.port) == (ProxyServer.State.READY, task.port):
                continue
            ProxyServer.objects.update_or_create(
                service=self.service, environment=self.environment, name=task.name,
                defaults={"deployment_id": task.deployment_id if task.deployment_id in known else None,
                          "container_id": task.container_id, "slot": task.slot, "port": task.port,
                          "colour": task.colour, "state": ProxyServer.State.READY, "retire_after": None},
            )  # fmt: skip
            server = proxy.Server(task.name, task.port, "ready")
            self._call(lambda api, server=server: api.add_server(backend, server))
            self.progress.step(
                f"Task {task.slot + 1} ({task.colour}, port {task.port}) added to the entry point",
                kind="traffic", slot=task.slot, state="ready", server=task.name,
            )  # fmt: skip
        for task in stopping:
            row = rows.get(task.name)
            if row is None or row.state == ProxyServer.State.DRAIN:
                continue
            self._rows().filter(pk=row.pk).update(state=ProxyServer.State.DRAIN)
            self._call(lambda api, name=task.name: api.switch(self.backend, [], [name]))
            self.progress.step(
                f"Draining task {task.slot + 1} ({task.colour}, port {task.port}): Swarm stops it",
                kind="traffic", slot=task.slot, state="draining", server=task.name,
            )  # fmt: skip
        present = {t.name for t in [*serving, *stopping]}
        for name, row in rows.items():
            if name not in present:
                row.delete()
                self._call(lambda api, name=name: api.remove_server(self.backend, name))

    def standby_ids(self) -> list[str]:
        """Container ids of a colour kept out of rotation for switching back."""
        if not self.enabled:
            return []
        return list(
            self._rows()
            .filter(state=ProxyServer.State.MAINT, retire_after__isnull=False)
            .values_list("container_id", flat=True)
        )

    def stand_by(self, container_ids: list[str], keep_for: float) -> None:
        """Keep drained replicas out of rotation until ``keep_for`` seconds from now, for
        an instant switch back; :func:`retire_standby` removes them afterwards."""
        rows = self._names(container_ids) if self.enabled else []
        if rows:
            self._rows().filter(pk__in=[r.pk for r in rows]).update(
                state=ProxyServer.State.MAINT,
                retire_after=timezone.now() + timezone.timedelta(seconds=keep_for),
            )
            self._call(lambda api: [api.set_state(self.backend, r.name, "maint") for r in rows])


def standby_until(service: Service, environment):
    """Until when a colour is kept for switching back (None: none is)."""
    row = (
        ProxyServer.objects.filter(
            service=service,
            environment=environment,
            state=ProxyServer.State.MAINT,
            retire_after__gt=timezone.now(),
        )  # fmt: skip
        .order_by("retire_after")
        .first()
    )
    return row.retire_after if row else None


def entry_point_state(service: Service, environment) -> list[dict]:
    """Each entry point of ``service`` in ``environment`` with its URL and backends: the
    records (state, weight, colour, deployment) and, while the proxy runs, what it says
    of each (its check status, current connections)."""
    entries = list(EntryPoint.objects.filter(service=service, environment=environment))
    if not entries:
        return []
    live: dict[str, proxy.ServerStat] = {}
    proxy_state = "off" if settings.PROXY_MODE == "off" else "down"
    process = proxy_process()
    if settings.PROXY_MODE != "off" and process.running():
        backend = proxy.backend_name(environment.slug, service.name)
        try:
            live = {s.name: s for s in process.runtime.stats() if s.backend == backend}
            proxy_state = "up"
        except proxy.ProxyUnavailable:
            pass
    backends = []
    for row in ProxyServer.objects.filter(service=service, environment=environment).order_by(
        "slot", "name"
    ):
        stat = live.get(row.name)
        backends.append(
            {
                "name": row.name,
                "port": row.port,
                "slot": row.slot + 1,
                "colour": row.colour,
                "deployment": row.deployment_id,
                "state": row.state,
                "weight": row.weight,
                "health": stat.status if stat else "unknown",
                "check": stat.check if stat else "",
                "sessions": stat.sessions if stat else 0,
                "retire_after": row.retire_after.isoformat() if row.retire_after else None,
            }  # fmt: skip
        )
    return [
        {
            "url": entry.url,
            "port": entry.port,
            "host": entry.host,
            "proxy": proxy_state,
            "backends": backends,
        }  # fmt: skip
        for entry in entries
    ]


def release_deployment(deployment) -> None:
    """Forget the proxy servers of a deployment that died (the reaper removed its
    containers) and put the others of its service back in rotation."""
    rows = ProxyServer.objects.filter(
        service=deployment.service, environment=deployment.environment
    )
    gone = list(rows.filter(deployment=deployment).values_list("name", flat=True))
    rows.filter(deployment=deployment).delete()
    rows.filter(state=ProxyServer.State.DRAIN).update(state=ProxyServer.State.READY)
    process = proxy_process()
    if settings.PROXY_MODE == "off" or not process.running():
        return
    backend = proxy.backend_name(deployment.environment.slug, deployment.service.name)
    try:
        for name in gone:
            process.runtime.remove_server(backend, name)
        for row in rows.filter(state=ProxyServer.State.READY):
            process.runtime.set_state(backend, row.name, "ready")
    except proxy.ProxyUnavailable as exc:
        log.warning("Could not update the proxy after deployment %s: %s", deployment.pk, exc)


def retire_standby(now=None) -> int:
    """Retire blue-green colours kept for switching back whose time is up: out of the
    proxy, their containers stopped and removed, and only then their records, so that
    a deployment starting meanwhile still sees them as kept and retires them itself
    (stop and remove are idempotent) before it starts a colour on their ports. A record
    whose engine cannot be reached stays, and the next pass tries again. Returns how
    many were retired."""
    from environments import engine

    now = now or timezone.now()
    due = list(
        ProxyServer.objects.filter(retire_after__lte=now).select_related("service", "environment")
    )
    process = proxy_process()
    retired = 0
    for row in due:
        if process.running():
            try:
                process.runtime.remove_server(
                    proxy.backend_name(row.environment.slug, row.service.name), row.name
                )
            except proxy.ProxyUnavailable as exc:
                log.warning("Could not remove %s from the proxy: %s", row.name, exc)
        try:
            with engine.session(row.environment, timeout=30) as session:
                owned = {r.id for r in session.replicas(row.service.name)}
                if row.container_id in owned:  # only Berth's own containers
                    session.stop(row.container_id, timeout=5)
                    session.remove(row.container_id)
        except engine.EngineUnavailable as exc:
            log.warning("Could not retire %s (tried again later): %s", row.name, exc)
            continue
        ProxyServer.objects.filter(pk=row.pk).delete()
        retired += 1
    return retired


def switch_back(service: Service, environment, deployment) -> list[str]:
    """Put the colour kept for switching back into rotation and take ``deployment``'s
    replicas out, in one Runtime API message; the latter retire at once (the periodic
    retirement stops them). Returns the names put back; empty when none is kept."""
    rows = ProxyServer.objects.filter(service=service, environment=environment)
    kept = list(rows.filter(state=ProxyServer.State.MAINT, retire_after__gt=timezone.now()))
    if not kept:
        return []
    current = list(rows.filter(deployment=deployment))
    with transaction.atomic():
        rows.filter(pk__in=[r.pk for r in kept]).update(
            state=ProxyServer.State.READY, retire_after=None
        )
        rows.filter(pk__in=[r.pk for r in current]).update(
            state=ProxyServer.State.MAINT, retire_after=timezone.now()
        )
    process = ensure_proxy()
    if process is not None:
        backend = proxy.backend_name(environment.slug, service.name)
        process.runtime.switch(backend, [r.name for r in kept], [r.name for r in current])
    return [r.name for r in kept]


_supervisor_started = threading.Event()


def supervise_forever(interval: float = 1.0) -> None:
    """Keep the proxy running (restarted from the records within ``interval`` seconds
    when it dies) in a daemon thread of this process; later calls do nothing."""
    if settings.PROXY_MODE != "embedded" or _supervisor_started.is_set():
        return  # an external proxy is its owner's to keep running
    _supervisor_started.set()

    def loop() -> None:
        from django.db import close_old_connections

        while True:
            try:
                close_old_connections()
                ensure_proxy()
            except Exception:  # noqa: BLE001 - a supervisor never dies; it says why
                log.exception("The traffic proxy supervisor could not start the proxy")
            time.sleep(interval)

    threading.Thread(target=loop, name="berth-proxy-supervisor", daemon=True).start()

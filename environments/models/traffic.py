"""Traffic: the entry points a service's config claims, and the replicas the proxy
sends their requests to. These rows are the proxy's state: a proxy that restarts is
rebuilt from them (:mod:`environments.deploying.traffic`)."""

from __future__ import annotations

from django.db import models

from environments.models.deployments import Deployment
from environments.models.environments import Environment
from environments.models.services import Service

__all__ = ["EntryPoint", "ProxyServer"]


class EntryPointQuerySet(models.QuerySet):
    def restrict(self, user, action: str = "view_environment") -> EntryPointQuerySet:
        return self.filter(environment__in=Environment.objects.restrict(user, action))


class EntryPoint(models.Model):
    """A listen port (and optionally a host name) that forwards to a service's healthy
    replicas in one environment. Claimed when the config that declares it is saved: a
    port and host name belong to one service and environment at a time."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="entry_points")
    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="entry_points"
    )
    port = models.PositiveIntegerField()
    host = models.CharField(max_length=253, blank=True, help_text="Empty: any host name.")

    objects = EntryPointQuerySet.as_manager()

    class Meta:
        ordering = ["port", "host"]
        constraints = [
            models.UniqueConstraint(fields=["port", "host"], name="entrypoint_unique_port_host")
        ]

    def __str__(self) -> str:
        return f"{self.host or '*'}:{self.port} → {self.service} in {self.environment}"

    @property
    def url(self) -> str:
        return f"http://{self.host or '127.0.0.1'}:{self.port}/"


class ProxyServer(models.Model):
    """A replica behind a service's entry points, in the state Berth put it in: ready
    (in rotation), drain (finishing its connections, no new ones) or maint (out of
    rotation: a blue-green colour kept for switching back until ``retire_after``)."""

    class State(models.TextChoices):
        READY = "ready", "In rotation"
        DRAIN = "drain", "Draining"
        MAINT = "maint", "Out of rotation"

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="+")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+")
    deployment = models.ForeignKey(
        Deployment, null=True, on_delete=models.SET_NULL, related_name="proxy_servers"
    )
    name = models.CharField(max_length=63)
    container_id = models.CharField(max_length=64)
    slot = models.PositiveSmallIntegerField(default=0)
    port = models.PositiveIntegerField()
    colour = models.CharField(max_length=10, default="blue")
    state = models.CharField(max_length=10, choices=State.choices, default=State.READY)
    weight = models.PositiveSmallIntegerField(default=100)
    retire_after = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["service", "environment", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["service", "environment", "name"], name="proxyserver_unique_name"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.state}) of {self.service} in {self.environment}"

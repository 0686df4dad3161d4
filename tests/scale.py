"""Bulk data for measuring how pages and API lists grow: environments (a developer
granted on every one of them), services with configs, deployments, promotions, images
and audit events, written with ``bulk_create`` so a large set takes seconds.

Used by ``tests/benchmarks/bench_scale.py`` (1,003 environments, 100 services, 10,000
deployments, 50,000 audit events in a throwaway database) and by
``tests/test_scale_queries.py`` (a small and a larger set: query counts must not grow).
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone

from environments.models import (
    Deployment,
    Environment,
    EnvironmentUserObjectPermission,
    Favourite,
    RoleGrant,
    Service,
    ServiceConfig,
)
from environments.roles import VIEW, Role, Tier, preset_actions
from pipelines.models import Approval, Pipeline, PipelineRevision, PipelineRun, StageRun
from portal.core.models import AuditEvent
from registry.models import Image, Promotion, Registry, Repository, Tag

__all__ = ["Scale", "SMALL", "LARGE", "seed"]

# Never contacted by a page that only reads: a socket that does not exist fails at once.
NO_ENGINE = "unix:///nonexistent/berth-scale/docker.sock"


@dataclass(frozen=True)
class Scale:
    environments: int
    services: int
    deployments: int
    audit_events: int
    promotions: int = 0
    pipelines: int = 0  # each with REVISIONS revisions and RUNS runs of three stages

    @property
    def label(self) -> str:
        return (
            f"{self.environments} env, {self.services} svc, {self.deployments} dep, "
            f"{self.audit_events} audit"
        )


SMALL = Scale(
    environments=10, services=5, deployments=50, audit_events=200, promotions=10, pipelines=2
)
LARGE = Scale(
    environments=1003,
    services=100,
    deployments=10_000,
    audit_events=50_000,
    promotions=500,
    pipelines=100,
)
REVISIONS, RUNS = 3, 4

TIERS = (Tier.DEVELOPMENT, Tier.TESTING, Tier.PRODUCTION)
CONFIGURED_IN = 3  # each service has a config in this many environments


def _digest(*parts) -> str:
    return "sha256:" + hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


def seed(scale: Scale, *, endpoint_url: str = NO_ENGINE, registry_url: str = "") -> dict:
    """Write ``scale`` worth of data and return the names a caller requests pages by:
    ``developer`` (granted on every environment), ``admin``, a ``service``, an
    ``environment`` slug, a ``deployment`` id and an ``image`` id."""
    User = get_user_model()
    now = timezone.now()
    developer = User.objects.create_user("scale-dev", password="x")
    admin = User.objects.create_superuser("scale-admin", password="x")
    registry = Registry.objects.create(
        name="scale", url=registry_url or "http://127.0.0.1:5999", verify_tls=False
    )

    # The first three along the path are Dev, Test, Ops; the rest repeat the tiers.
    environments = Environment.objects.bulk_create(
        Environment(
            name=f"Scale {i:04d}",
            slug=f"scale-{i:04d}",
            position=i,
            tier=TIERS[i % 3] if i >= 3 else TIERS[i],
            protected=TIERS[i % 3] == Tier.PRODUCTION,
            endpoint_url=endpoint_url,
            only_labelled_containers=True,
            registry=registry,
            allow_host_network=True,
        )
        for i in range(scale.environments)
    )
    environments = list(Environment.objects.filter(slug__startswith="scale-").order_by("position"))

    permissions = {
        p.codename: p for p in Permission.objects.filter(content_type__app_label="environments")
    }
    grants, rows = [], []
    for environment in environments:
        granted = preset_actions(Role.DEVELOPER, environment.tier) or frozenset({VIEW})
        role = Role.DEVELOPER if preset_actions(Role.DEVELOPER, environment.tier) else Role.CUSTOM
        grants.append(
            RoleGrant(environment=environment, user=developer, role=role, actions=sorted(granted))
        )
        rows += [
            EnvironmentUserObjectPermission(
                user=developer, permission=permissions[action], content_object=environment
            )
            for action in granted
        ]
    RoleGrant.objects.bulk_create(grants, batch_size=2000)
    EnvironmentUserObjectPermission.objects.bulk_create(rows, batch_size=2000)

    repositories = Repository.objects.bulk_create(
        Repository(registry=registry, name=f"team/app{i:03d}", refreshed_at=now)
        for i in range(scale.services)
    )
    repositories = list(Repository.objects.filter(registry=registry).order_by("name"))
    Image.objects.bulk_create(
        Image(repository=r, digest=_digest(r.name, v), size=1000 * (v + 1))
        for r in repositories
        for v in range(3)
    )
    Tag.objects.bulk_create(
        Tag(repository=r, name=f"1.0.{v}", digest=_digest(r.name, v))
        for r in repositories
        for v in range(3)
    )

    Service.objects.bulk_create(
        Service(
            name=f"app{i:03d}", registry=registry, repository=f"team/app{i:03d}", created_by=admin
        )
        for i in range(scale.services)
    )
    services = list(Service.objects.order_by("name"))
    document = {"replicas": 1, "network_mode": "host", "strategy": "recreate"}
    ServiceConfig.objects.bulk_create(
        ServiceConfig(
            service=service,
            environment=environments[(s + k) % len(environments)],
            revision=1,
            document=document,
            created_by=admin,
        )
        for s, service in enumerate(services)
        for k in range(min(CONFIGURED_IN, len(environments)))
    )
    configs = list(ServiceConfig.objects.select_related("service", "environment"))
    pairs = itertools.cycle(configs)
    statuses = (Deployment.Status.SUCCEEDED, Deployment.Status.FAILED)
    Deployment.objects.bulk_create(
        (
            Deployment(
                service=config.service,
                environment=config.environment,
                config=config,
                digest=_digest(config.service.repository, i % 3),
                strategy="recreate",
                status=statuses[i % 7 == 0],
                progress=100,
                actor=developer,
                started_at=now - timedelta(minutes=i),
                finished_at=now - timedelta(minutes=i) + timedelta(seconds=9),
            )
            for i, config in zip(range(scale.deployments), pairs, strict=False)
        ),
        batch_size=2000,
    )

    promotions = []
    for i in range(scale.promotions):
        service = services[i % len(services)]
        source = environments[1 + (i % max(1, len(environments) - 2))]
        target = environments[min(source.position + 1, len(environments) - 1)]
        promotions.append(
            Promotion(
                digest=_digest(service.repository, i % 3),
                source_environment=source,
                target_environment=target,
                source_registry=registry,
                source_repository=service.repository,
                target_registry=registry,
                target_repository=service.repository,
                tags=["qa-passed"],
                actor=developer,
                status=Promotion.Status.SUCCEEDED,
                finished_at=now - timedelta(minutes=i),
            )
        )
    Promotion.objects.bulk_create(promotions, batch_size=2000)

    actions = ("deployment.create", "config.save", "role.grant", "container.restart")
    AuditEvent.objects.bulk_create(
        (
            AuditEvent(
                actor=developer,
                actor_name=developer.username,
                action=actions[i % len(actions)],
                target_type="environments.service",
                target_id=str(services[i % len(services)].pk),
                target_repr=services[i % len(services)].name,
                environment=environments[i % len(environments)],
                environment_name=environments[i % len(environments)].name,
                details={"replicas": {"old": 1, "new": 2}} if i % 2 else {"digest": _digest(i)},
            )
            for i in range(scale.audit_events)
        ),
        batch_size=5000,
    )
    # The developer starred one environment in ten and one service in ten (the
    # dashboard shows at most 30 of each, so it stays the same size past that).
    Favourite.objects.bulk_create(
        [Favourite(user=developer, environment=e) for e in environments[::10]]
        + [Favourite(user=developer, service=s) for s in services[::10]]
    )
    pipeline = _seed_pipelines(scale, services, environments[:3], developer, now)
    deployment = Deployment.objects.filter(environment=environments[0]).first()
    return {
        "developer": developer,
        "admin": admin,
        "service": services[0].name,
        "environment": environments[0].slug,
        "deployment": deployment.pk if deployment else None,
        "image": Image.objects.filter(repository=repositories[0]).first().pk,
        "pipeline": pipeline.pk if pipeline else None,
        "run": pipeline.runs.order_by("pk").first().pk if pipeline else None,
    }


def _seed_pipelines(scale: Scale, services, path, developer, now) -> Pipeline | None:
    """``scale.pipelines`` pipelines homed in the first environment (deploy to it, wait
    for an approval in the second), each with revisions, finished runs, stages and an
    approval; the first one is returned."""
    if not scale.pipelines:
        return None
    first, second = path[0], path[min(1, len(path) - 1)]
    document = {
        "stages": [
            {"name": "deploy", "kind": "deploy", "environment": first.slug},
            {"name": "qa", "kind": "approval", "environment": second.slug},
        ]
    }
    pipelines = Pipeline.objects.bulk_create(
        Pipeline(service=services[i % len(services)], name=f"ci-{i:04d}", environment=first,
                 created_by=developer)
        for i in range(scale.pipelines)
    )  # fmt: skip
    pipelines = list(Pipeline.objects.filter(name__startswith="ci-").order_by("pk"))
    PipelineRevision.objects.bulk_create(
        PipelineRevision(pipeline=p, revision=r + 1, text=f"# r{r + 1}\nstages: []\n",
                         document=document, created_by=developer)
        for p in pipelines
        for r in range(REVISIONS)
    )  # fmt: skip
    latest = {r.pipeline_id: r for r in PipelineRevision.objects.filter(revision=REVISIONS)}
    PipelineRun.objects.bulk_create(
        PipelineRun(pipeline=p, revision=latest[p.pk], status=PipelineRun.Status.SUCCEEDED,
                    digest=_digest(p.name, r), trigger={"kind": "button", "by": "scale-dev"},
                    actor=developer, started_at=now, finished_at=now)
        for p in pipelines
        for r in range(RUNS)
    )  # fmt: skip
    runs = list(PipelineRun.objects.filter(pipeline__in=pipelines))
    done = StageRun.Status.SUCCEEDED
    StageRun.objects.bulk_create(
        StageRun(run=run, step=step, name=stage["name"], kind=stage["kind"], plan=stage,
                 environment=env, status=done, started_at=now, finished_at=now)
        for run in runs
        for step, (stage, env) in enumerate(zip(document["stages"], (first, second)))
    )  # fmt: skip
    Approval.objects.bulk_create(
        Approval(stage=stage, user=developer, approved=True, digest=stage.run.digest)
        for stage in StageRun.objects.filter(run__in=runs, kind="approval").select_related("run")
    )
    return pipelines[0]


def routes(names: dict) -> list[tuple[str, str]]:
    """``(kind, key, url)`` for every page and API list the scale measures: kind is
    ``page`` or ``api`` (their targets differ), key the route with its ids as names."""
    pages = [
        "/",
        "/services/",
        f"/services/{names['service']}/",
        "/deployments/",
        "/promotions/",
        "/images/",
        f"/images/{names['image']}/",
        "/audit/",
        f"/environments/{names['environment']}/",
        "/profile/",
        "/pipelines/",
    ]
    if names.get("pipeline"):
        pages.append(f"/pipelines/{names['pipeline']}/")
        pages.append(f"/pipeline-runs/{names['run']}/")
    if names.get("deployment"):
        pages.append(f"/deployments/{names['deployment']}/")
    api = [
        "/api/environments/",
        "/api/services/",
        "/api/deployments/",
        "/api/audit-events/",
        "/api/promotions/",
        "/api/images/",
        "/api/registries/",
        "/api/grants/",
        "/api/favourites/",
        "/api/pipelines/",
        "/api/pipeline-runs/",
    ]
    if names.get("pipeline"):
        api.append(f"/api/pipelines/{names['pipeline']}/revisions/")
    generic = {
        f"/{names['service']}/": "/<service>/",
        f"/{names['environment']}/": "/<env>/",
        f"/images/{names['image']}/": "/images/<id>/",
        f"/deployments/{names.get('deployment')}/": "/deployments/<id>/",
        f"/pipelines/{names.get('pipeline')}/": "/pipelines/<id>/",
        f"/pipeline-runs/{names.get('run')}/": "/pipeline-runs/<id>/",
    }

    def key(url: str) -> str:
        for concrete, name in generic.items():
            url = url.replace(concrete, name)
        return url

    return [("page", key(url), url) for url in pages] + [("api", key(url), url) for url in api]


def measure(client, url: str, runs: int = 1) -> tuple[int, list[float], int]:
    """``(queries of the first run, seconds of every run, status)`` for GET ``url``,
    after one request that is not counted."""
    import time

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)  # warm-up: process-wide caches (content types) fill once, not per request
    times, queries, status = [], 0, 0
    for run in range(runs):
        connection.queries_log.clear()  # a bounded deque: a full one would count 0
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            if getattr(response, "streaming", False):
                b"".join(response.streaming_content)
            times.append(time.perf_counter() - started)
        if run == 0:
            queries, status = len(captured), response.status_code
    return queries, times, status

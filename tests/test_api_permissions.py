"""The permission kit: every API endpoint, as every persona, with the expected status.

A new route under /api/ fails ``test_every_api_route_is_in_the_kit`` until it is
listed here, so no endpoint can skip its permission test.

Every real answer is also held against the OpenAPI schema (``/api/schema/``): a success
must be a documented status, and any answer whose status is documented must match the
schema documented for it (schemathesis' response validation).
"""

from __future__ import annotations

import functools
import json
import uuid
from dataclasses import dataclass, field

import docker
import pytest
import requests
import schemathesis
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from rest_framework.test import APIClient
from schemathesis.core.transport import Response

from environments import engine
from environments.deploying.config import validate
from environments.models import (
    Deployment,
    Environment,
    Favourite,
    RoleGrant,
    Service,
    ServiceConfig,
)
from pipelines.definition import parse as parse_pipeline
from pipelines.models import Pipeline, PipelineRevision, PipelineRun, StageRun
from portal.core.tokens import create_token
from portal.models import ApiToken, AuditEvent
from registry.models import Image, Promotion, Registry, Repository
from tests import stack

pytestmark = pytest.mark.django_db

ALL = ("developer", "tester", "operator", "stranger", "anonymous")


@dataclass
class Case:
    name: str  # URL name
    method: str
    expected: dict[str, int]
    # symbolic: "env:dev", "grant:ops", "event:ops", "token:own", "token:other", and
    # "container:dev": a real running container of that environment (implies the engine)
    args: tuple = ()
    data: dict = field(default_factory=dict)
    needs_engine: bool = False

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.name}{list(self.args) if self.args else ''}"


def s(developer, tester, operator, stranger, anonymous=401) -> dict[str, int]:
    return dict(zip(ALL, (developer, tester, operator, stranger, anonymous), strict=True))


CASES = [
    Case("api-root", "get", s(200, 200, 200, 200)),
    # The schema and its UI describe the API, not anyone's data: public, as in most portals.
    Case("api-schema", "get", s(200, 200, 200, 200, anonymous=200)),
    Case("api-docs", "get", s(200, 200, 200, 200, anonymous=200)),
    Case("api-redoc", "get", s(200, 200, 200, 200, anonymous=200)),
    Case("environment-list", "get", s(200, 200, 200, 200)),
    Case(
        "environment-list",
        "post",
        s(403, 403, 403, 403),
        data={"name": "Stage", "slug": "stage", "endpoint_url": "unix:///var/run/docker.sock"},
    ),
    Case("environment-detail", "get", s(200, 200, 200, 404), args=("env:dev",)),
    Case("environment-detail", "get", s(404, 200, 200, 404), args=("env:ops",)),
    Case(
        "environment-detail",
        "patch",
        s(404, 403, 200, 404),
        args=("env:ops",),
        data={"description": "changed"},
    ),
    Case(
        "environment-detail",
        "patch",
        s(403, 403, 403, 404),
        args=("env:dev",),
        data={"description": "changed"},
    ),
    Case(
        "environment-detail", "put", s(404, 403, 400, 404), args=("env:ops",), data={"name": "Ops"}
    ),
    Case("environment-detail", "delete", s(404, 403, 403, 404), args=("env:ops",)),
    Case(
        "environment-containers",
        "get",
        s(200, 200, 200, 404),
        args=("env:test",),
        needs_engine=True,
    ),
    Case(
        "environment-containers", "get", s(404, 200, 200, 404), args=("env:ops",), needs_engine=True
    ),
    Case(
        "environment-endpoint", "get", s(404, 200, 200, 404), args=("env:ops",), needs_engine=True
    ),
    # One container: reading needs view, operating needs deploy, the log needs view_logs;
    # someone who cannot see the environment gets 404 whether the container exists or not.
    Case("environment-container", "get", s(200, 200, 200, 404), args=("env:dev", "container:dev")),
    Case("environment-container", "get", s(404, 200, 200, 404), args=("env:ops", "container:ops")),
    Case(
        "environment-container-restart",
        "post",
        s(200, 403, 403, 404),
        args=("env:dev", "container:dev"),
    ),
    # Ops is protected: a replica there restarts or stops only when confirmed.
    Case(
        "environment-container-restart",
        "post",
        s(404, 403, 200, 404),
        args=("env:ops", "container:ops"),
        data={"confirm": True},
    ),
    Case(
        "environment-container-restart",
        "post",
        s(404, 403, 400, 404),
        args=("env:ops", "container:ops"),
    ),
    Case(
        "environment-container-stop",
        "post",
        s(404, 403, 400, 404),
        args=("env:ops", "container:ops"),
    ),
    Case(
        "environment-container-stop",
        "post",
        s(200, 403, 403, 404),
        args=("env:dev", "container:dev"),
    ),
    Case(
        "environment-container-start",
        "post",
        s(200, 403, 403, 404),
        args=("env:dev", "container:dev"),
    ),
    Case(
        "environment-container-logs",
        "get",
        s(200, 403, 403, 404),
        args=("env:dev", "container:dev"),
    ),
    Case(
        "environment-container-logs",
        "get",
        s(200, 200, 403, 404),
        args=("env:test", "container:test"),
    ),
    Case("grant-list", "get", s(200, 200, 200, 200)),
    # An environment in the body that one cannot see is answered like a missing one (400).
    Case(
        "grant-list",
        "post",
        s(400, 403, 201, 400),
        data={"environment": "env:ops", "group": "Developers", "role": "tester"},
    ),
    Case("grant-detail", "get", s(404, 404, 200, 404), args=("grant:ops",)),
    Case("grant-detail", "delete", s(404, 404, 204, 404), args=("grant:ops",)),
    Case("audit-event-list", "get", s(200, 200, 200, 200)),
    Case("audit-event-detail", "get", s(404, 200, 200, 404), args=("event:ops",)),
    Case("token-list", "get", s(200, 200, 200, 200)),
    Case("token-list", "post", s(201, 201, 201, 201), data={"name": "ci"}),
    Case("token-detail", "delete", s(204, 204, 204, 204), args=("token:own",)),
    Case("token-detail", "delete", s(404, 404, 404, 404), args=("token:other",)),
    # Favourites: one's own stars, only of what one can see (a hidden object as a missing one).
    Case("favourite-list", "get", s(200, 200, 200, 200)),
    Case("favourite-list", "post", s(201, 201, 201, 404), data={"environment": "dev"}),
    Case("favourite-list", "post", s(404, 201, 201, 404), data={"environment": "ops"}),
    Case("favourite-list", "post", s(201, 201, 201, 404), data={"service": "svcname:dev"}),
    Case(
        "favourite-list", "post", s(400, 400, 400, 400), data={"environment": "dev", "service": "x"}
    ),
    Case("favourite-detail", "delete", s(204, 204, 204, 404), args=("favourite:own",)),
    Case("favourite-detail", "delete", s(404, 404, 404, 404), args=("favourite:other",)),
    Case("promotion-list", "get", s(200, 200, 200, 200)),
    # Permission is checked before the lifecycle: the tester passes it and is then refused
    # because nothing ran in Test (400); everyone else stops at the permission, and for
    # the stranger Test is as missing as any environment that does not exist (400).
    Case(
        "promotion-list",
        "post",
        s(403, 400, 403, 400),
        data={
            "source_environment": "env:test",
            "repository": "demo/app",
            "digest": "sha256:" + "a" * 64,
        },
    ),
    # A promotion out of Test into Ops is visible to whoever sees either end.
    Case("promotion-detail", "get", s(200, 200, 200, 404), args=("promotion:ops",)),
    Case("registry-list", "get", s(200, 200, 200, 200)),
    Case(
        "registry-list",
        "post",
        s(403, 403, 403, 403),
        data={"name": "other", "url": "http://127.0.0.1:1"},
    ),
    Case("registry-detail", "get", s(404, 200, 200, 404), args=("registry:ops",)),
    Case(
        "registry-detail",
        "patch",
        s(404, 403, 403, 404),
        args=("registry:ops",),
        data={"verify_tls": False},
    ),
    Case("registry-detail", "delete", s(404, 403, 403, 404), args=("registry:ops",)),
    # Refresh is queued (202) for those who deploy or sign off with the registry.
    Case("registry-refresh", "post", s(404, 403, 202, 404), args=("registry:ops",)),
    Case("image-list", "get", s(200, 200, 200, 200)),
    Case("image-detail", "get", s(404, 200, 200, 404), args=("image:ops",)),
    Case("service-list", "get", s(200, 200, 200, 200)),
    Case(
        "service-list",
        "post",
        s(201, 201, 201, 400),
        data={"name": "newsvc", "registry": "regof:dev", "repository": "kit/app"},
    ),
    Case("service-detail", "get", s(200, 200, 200, 404), args=("service:dev",)),
    Case("service-configs", "get", s(200, 200, 200, 404), args=("service:dev",)),
    Case(
        "service-export",
        "get",
        s(200, 200, 200, 404),
        args=("service:dev",),
        data={"environment": "dev", "syntax": "yaml"},
    ),
    # The picker's choices: only where one may deploy; the kit's registry is unreachable,
    # so the answer says so and offers what Berth saw last.
    Case(
        "service-candidates",
        "get",
        s(200, 403, 403, 404),
        args=("service:dev",),
        data={"environment": "dev"},
    ),
    Case(
        "service-candidates",
        "get",
        s(400, 403, 200, 404),
        args=("service:dev",),
        data={"environment": "ops"},
    ),
    Case(
        "service-traffic",
        "get",
        s(200, 200, 200, 404),
        args=("service:dev",),
        data={"environment": "dev"},
    ),  # fmt: skip
    Case(
        "service-configs",
        "post",
        s(201, 403, 403, 404),
        args=("service:dev",),
        data={"environment": "dev", "document": {"replicas": 1}},
    ),
    # The developer passes the permission and is stopped by the unreachable kit registry.
    Case(
        "service-scale",
        "post",
        s(400, 403, 403, 404),
        args=("service:dev",),
        data={"environment": "dev", "replicas": 1},
    ),
    # Permission before history: outsiders 404, viewers 403; only the operator, who may
    # deploy in Ops, learns that the service was never deployed there.
    Case(
        "service-scale",
        "post",
        s(400, 403, 400, 404),
        args=("service:dev",),
        data={"environment": "ops", "replicas": 1},
    ),
    # Stop and restart are recorded operations, run by a worker like a deployment (202).
    Case(
        "service-restart",
        "post",
        s(202, 403, 403, 404),
        args=("service:dev",),
        data={"environment": "dev"},
        needs_engine=True,
    ),
    Case(
        "service-stop",
        "post",
        s(202, 403, 403, 404),
        args=("service:dev",),
        data={"environment": "dev"},
        needs_engine=True,
    ),
    Case("deployment-list", "get", s(200, 200, 200, 200)),
    Case(
        "deployment-list",
        "post",
        s(400, 403, 403, 400),
        data={"service": "svcname:dev", "environment": "dev", "digest": "sha256:" + "d" * 64},
    ),
    Case("deployment-detail", "get", s(200, 200, 200, 404), args=("deployment:dev",)),
    Case("deployment-rollback", "post", s(400, 403, 403, 404), args=("deployment:dev",)),
    Case("deployment-switch-back", "post", s(400, 403, 403, 404), args=("deployment:dev",)),
    Case("pipeline-list", "get", s(200, 200, 200, 200)),
    # The definition is checked first: nothing is created from a bad one, for anyone.
    Case(
        "pipeline-list",
        "post",
        s(400, 400, 400, 400),
        data={"service": "svcname:dev", "name": "p", "text": "stages: []"},
    ),
    Case("pipeline-detail", "get", s(200, 200, 200, 404), args=("pipeline:dev",)),
    Case("pipeline-detail", "get", s(404, 200, 200, 404), args=("pipeline:ops",)),
    Case("pipeline-revisions", "get", s(200, 200, 200, 404), args=("pipeline:dev",)),
    Case(
        "pipeline-revisions",
        "post",
        s(400, 403, 403, 404),
        args=("pipeline:dev",),
        data={"text": "stages: []"},
    ),
    # The kit pipeline builds nothing: the developer may start it and must name a digest.
    Case("pipeline-run", "post", s(400, 403, 403, 404), args=("pipeline:dev",)),
    Case("pipeline-rotate-secret", "post", s(200, 403, 403, 404), args=("pipeline:dev",)),
    # Signed by HMAC, not by a user: unsigned is 401 for everyone, and records nothing.
    Case(
        "pipeline-webhook",
        "post",
        s(401, 401, 401, 401, anonymous=401),
        args=("pipeline:dev",),
        data={"digest": "sha256:" + "f" * 64},
    ),
    Case("pipeline-run-list", "get", s(200, 200, 200, 200)),
    Case("pipeline-run-detail", "get", s(200, 200, 200, 404), args=("piperun:dev",)),
    Case("pipeline-run-detail", "get", s(404, 200, 200, 404), args=("piperun:ops",)),
    # The kit gate asks for deploy_to_environment in Dev: only the developer holds it.
    Case(
        "pipeline-run-approve",
        "post",
        s(200, 403, 403, 404),
        args=("piperun:dev",),
        data={"stage": "gate"},
    ),
    Case(
        "pipeline-run-reject",
        "post",
        s(200, 403, 403, 404),
        args=("piperun:dev",),
        data={"stage": "gate"},
    ),
    Case("pipeline-run-cancel", "post", s(200, 403, 403, 404), args=("piperun:dev",)),
    Case(
        "pipeline-run-retry",
        "post",
        s(409, 403, 403, 404),
        args=("piperun:dev",),
        data={"stage": "gate"},
    ),
    Case("pipeline-run-rerun", "post", s(202, 403, 403, 404), args=("piperun:dev",)),
    Case("api-token", "post", s(400, 400, 400, 400, anonymous=400), data={}),
]

# Checked with their own tests instead of per persona.
EXEMPT = {"api-token": "public by design: exchanges credentials, see test_tokens.py"}


def _resolve(value, personas, environments, persona, containers=None):
    if not isinstance(value, str) or ":" not in value:
        return value
    kind, key = value.split(":", 1)
    if kind == "env":
        return environments[key].pk
    if kind == "container":
        return containers(key)
    if kind == "grant":
        return RoleGrant.objects.filter(environment=environments[key]).first().pk
    if kind == "event":
        return AuditEvent.objects.filter(environment=environments[key]).first().pk
    if kind == "regname":
        return Registry.objects.get_or_create(name=key, url="http://127.0.0.1:1")[0].name
    if kind == "regof":  # a registry that environment uses: visible to whoever sees it
        registry = Registry.objects.get_or_create(name=f"{key}-reg", url="http://127.0.0.1:1")[0]
        environments[key].registry = registry
        environments[key].save()
        return registry.name
    if kind in ("service", "svcname", "deployment"):
        deployment = _kit_deployment(environments[key])
        return {"service": deployment.service.pk, "svcname": deployment.service.name}.get(
            kind, deployment.pk
        )
    if kind in ("registry", "image"):
        registry = Registry.objects.get_or_create(name="ops-registry", url="http://127.0.0.1:1")[0]
        environments[key].registry = registry
        environments[key].save()
        if kind == "registry":
            return registry.pk
        repository = Repository.objects.get_or_create(registry=registry, name="kit/app")[0]
        return Image.objects.get_or_create(repository=repository, digest="sha256:" + "c" * 64)[0].pk
    if kind == "promotion":
        return _promotion_into(environments[key]).pk
    if kind in ("pipeline", "piperun"):
        run = kit_pipeline_run(environments[key])
        return run.pipeline.pk if kind == "pipeline" else run.pk
    if kind == "favourite":  # a star of Dev, of one's own or of someone else's
        owner = (
            personas[persona]
            if key == "own"
            else personas["stranger" if persona != "stranger" else "tester"]
        ) or personas["tester"]
        return Favourite.objects.get_or_create(user=owner, environment=environments["dev"])[0].pk
    if kind == "token":
        owner = (
            personas[persona]
            if key == "own"
            else personas["stranger" if persona != "stranger" else "tester"]
        )
        if owner is None:
            owner = personas["tester"]
        return create_token(owner, "kit")[0].pk
    return value


@pytest.fixture
def kit_containers(docker_host):
    """``make("dev")``: the id of a running container of that environment, removed after."""
    client = docker.DockerClient(base_url=docker_host, version="auto")
    started = []

    def make(slug: str) -> str:
        container = client.containers.run(
            stack.TEST_IMAGE,
            ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"],
            name=f"berth-kit-{uuid.uuid4().hex[:10]}",
            labels={engine.LABEL_ENVIRONMENT: slug},
            network_mode="none",
            detach=True,
        )
        started.append(container)
        return container.id

    yield make
    for container in started:
        container.remove(force=True)
    client.close()


def _kit_deployment(environment):
    """A service configured and once deployed in ``environment`` (rows only)."""
    registry = Registry.objects.get_or_create(name="kit", url="http://127.0.0.1:1")[0]
    service = Service.objects.get_or_create(name="kit", registry=registry, repository="kit/app")[0]
    config = ServiceConfig.objects.get_or_create(
        service=service, environment=environment, revision=1,
        defaults={"document": validate({"replicas": 1})},
    )[0]  # fmt: skip
    return Deployment.objects.get_or_create(
        service=service, environment=environment, config=config, digest="sha256:" + "e" * 64,
        strategy="rolling", status="succeeded",
    )[0]  # fmt: skip


KIT_PIPELINE = """\
stages:
  - {{name: gate, kind: approval, environment: {env}, permission: deploy_to_environment}}
  - {{name: smoke, kind: test, environment: {env}, command: "true"}}
"""


def kit_pipeline_run(environment):
    """A pipeline at home in ``environment`` and a run of it waiting at its gate (rows)."""
    deployment = _kit_deployment(environment)
    text = KIT_PIPELINE.format(env=environment.slug)
    document = parse_pipeline(text, set(Environment.objects.values_list("slug", flat=True)))
    pipeline = Pipeline.objects.create(
        service=deployment.service, name=f"kit-{environment.slug}", environment=environment
    )
    revision = PipelineRevision.objects.create(
        pipeline=pipeline, revision=1, text=text, document=document
    )
    digest = "sha256:" + "f" * 64
    run = PipelineRun.objects.create(
        pipeline=pipeline, revision=revision, digest=digest, status="waiting",
        trigger={"kind": "button", "digest": digest},
    )  # fmt: skip
    for index, step in enumerate(document["steps"]):
        for stage in step:
            StageRun.objects.create(
                run=run, step=index, name=stage["name"], kind=stage["kind"], plan=stage,
                environment=environment, status="waiting" if index == 0 else "pending",
            )  # fmt: skip
    return run


def _promotion_into(target):
    registry = Registry.objects.get_or_create(name="kit", url="http://127.0.0.1:1")[0]
    source = Environment.objects.filter(position__lt=target.position).order_by("-position").first()
    return Promotion.objects.create(
        digest="sha256:" + "b" * 64, source_environment=source, target_environment=target,
        source_registry=registry, source_repository="kit/app", target_registry=registry,
        target_repository="kit/app", status=Promotion.Status.SUCCEEDED,
    )  # fmt: skip


@pytest.mark.parametrize("persona", ALL)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_endpoint_answers_persona_as_expected(
    request, case, persona, personas, environments, api_for
):
    containers = None
    if any(str(arg).startswith("container:") for arg in case.args):
        containers = request.getfixturevalue("kit_containers")
    elif case.needs_engine:
        request.getfixturevalue("docker_host")
    args = [_resolve(a, personas, environments, persona, containers) for a in case.args]
    data = {k: _resolve(v, personas, environments, persona) for k, v in case.data.items()}
    url = reverse(case.name, args=args)
    response = getattr(api_for(persona), case.method)(url, data, format="json")
    assert response.status_code == case.expected[persona], (
        f"{case} as {persona}: {response.status_code} {getattr(response, 'data', '')}"
    )
    _matches_the_schema(case.method, url, response)


@functools.cache
def _openapi():
    document = SchemaGenerator().get_schema(request=None, public=True)
    return schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(document)))


def _matches_the_schema(method: str, url: str, response) -> None:
    """A success is documented, and any documented answer matches its schema."""
    if url in {reverse(name) for name in ("api-root", "api-docs", "api-redoc", "api-schema")}:
        return  # the index of routes and the docs themselves (HTML, the schema document)
    operation = _openapi().find_operation_by_path(method, url)
    assert operation is not None, f"{method.upper()} {url} is not in the OpenAPI schema"
    documented = operation.responses.find_by_status_code(response.status_code)
    if 200 <= response.status_code < 300:
        assert documented is not None, (
            f"{method.upper()} {url} answered {response.status_code}, not in the schema"
        )
    if response.streaming:
        return  # a container's log: plain text, which the schema gives no shape
    answer = Response(
        status_code=response.status_code,
        headers={name: [value] for name, value in response.items()},
        content=response.content,
        request=requests.Request(method.upper(), "http://testserver" + url).prepare(),
        elapsed=0.0,
        verify=True,
        encoding="utf-8",
    )
    operation.validate_response(answer)


def _api_route_names(patterns, prefix="") -> set[str]:
    names = set()
    for entry in patterns:
        if isinstance(entry, URLResolver):
            names |= _api_route_names(entry.url_patterns, prefix + str(entry.pattern))
        elif (
            isinstance(entry, URLPattern)
            and entry.name
            and (prefix + str(entry.pattern)).startswith("api/")
        ):
            names.add(entry.name)
    return names


def test_every_api_route_is_in_the_kit():
    covered = {case.name for case in CASES} | set(EXEMPT)
    missing = _api_route_names(get_resolver().url_patterns) - covered
    assert not missing, f"API routes without permission cases: {sorted(missing)}"


def test_api_token_model_is_never_exposed_with_its_hash(api_for):
    create_token_response = api_for("developer").post(
        reverse("token-list"), {"name": "x"}, format="json"
    )
    assert "key_hash" not in create_token_response.data
    assert create_token_response.data["token"].startswith("berth_")
    assert ApiToken.objects.filter(name="x").count() == 1


def test_deploy_rollback_and_scale_answer_as_the_schema_says(
    environments, admin_user, registry_url
):
    """Accepted deploy, rollback and scale (202), held against the schema like every
    answer above (the kit's own cases of these are refused: an unreachable registry).
    Their tasks never run: the test's transaction never commits."""
    from registry.client import RegistryClient

    registry = Registry.objects.create(name="real", url=registry_url)
    digest = RegistryClient(registry_url).resolve("demo/app", "latest")
    service = Service.objects.create(name="schema", registry=registry, repository="demo/app")
    dev = environments["dev"]
    config = ServiceConfig.objects.create(
        service=service, environment=dev, revision=1, document=validate({"replicas": 1})
    )
    client = APIClient()
    client.force_authenticate(admin_user)
    answers = []

    def post(url, data):
        response = client.post(url, data, format="json")
        assert response.status_code == 202, (url, response.data)
        _matches_the_schema("post", url, response)
        Deployment.objects.filter(status__in=Deployment.ACTIVE).update(status="failed")
        answers.append(response.data)

    post(reverse("deployment-list"), {"service": "schema", "environment": "dev", "digest": digest})
    earlier = Deployment.objects.create(
        service=service, environment=dev, config=config, digest=digest,
        strategy="rolling", status="succeeded",
    )  # fmt: skip
    post(reverse("service-scale", args=[service.pk]), {"environment": "dev", "replicas": 2})
    later = Deployment.objects.create(
        service=service, environment=dev, config=config, digest="sha256:" + "f" * 64,
        strategy="rolling", status="succeeded",
    )  # fmt: skip
    post(reverse("deployment-rollback", args=[later.pk]), {})
    assert [a["digest"] for a in answers] == [digest, earlier.digest, digest]

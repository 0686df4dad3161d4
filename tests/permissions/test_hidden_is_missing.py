"""An environment, service, registry or repository named in a body or a query string
answers exactly like one that does not exist when the requester cannot see it.

Each case sends one request twice as one persona, with otherwise identical bodies: once
naming an object that exists but that the persona cannot see, once naming one that
nobody has. Status, content type and body must be the same once both identifiers are
replaced by a placeholder.

``test_every_route_naming_a_restricted_object_is_covered`` finds the routes to cover by
itself, so a new route (or a new field) fails the suite until it has a case here:

* body and declared query parameters: every writable related field, with a queryset, of
  a model that has a ``restrict()`` access path, in the request serializer and the query
  parameter serializers that drf-spectacular finds for each route and method (the same
  introspection that builds ``/api/schema/``);
* list filters read straight from ``request.query_params``: each list route is asked, as
  a superuser, with ``?environment=`` etc. naming nothing; a route whose answer changes
  reads that parameter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.test import APIClient

from environments.deploying.config import validate
from environments.models import Deployment, Favourite, Service, ServiceConfig
from pipelines.models import Pipeline, PipelineRevision, PipelineRun
from portal.core.tokens import create_token
from registry.models import Image, Promotion, Registry, Repository

pytestmark = pytest.mark.django_db

DIGEST = "sha256:" + "d" * 64

# kind -> (family of the object, attribute sent): what one case puts in its parameter.
KINDS = {
    "env-slug": ("env", "slug"),
    "env-pk": ("env", "pk"),
    "service-name": ("service", "name"),
    "registry-name": ("registry", "name"),
    "registry-pk": ("registry", "pk"),
    "repository-name": ("repository", "name"),
}
# Identifiers nobody has.
MISSING = {
    "env-slug": "no-such-env",
    "env-pk": 987654,
    "service-name": "no-such-service",
    "registry-name": "no-such-registry",
    "registry-pk": 987653,
    "repository-name": "no/such-repo",
}
# Per persona, the object of each family that exists but that the persona cannot see
# (keys of the ``world`` fixture). The developer sees Dev and Test, not Ops; the stranger
# sees nothing; the operator sees every environment and service, but not a registry that
# no environment uses (Registry.objects.restrict).
HIDDEN = {
    "developer": {"env": "ops", "service": "ops", "registry": "ops", "repository": "ops"},
    "stranger": {"env": "dev", "service": "dev", "registry": "dev", "repository": "dev"},
    "operator": {"registry": "orphan", "repository": "orphan"},
}
# Query parameters a list route might filter on: the names of the restricted objects.
PROBED_PARAMS = (
    "environment",
    "service",
    "registry",
    "repository",
    "deployment",
    "image",
    "source_environment",
    "target_environment",
)


@dataclass
class Case:
    name: str  # URL name
    method: str
    param: str  # the body field or query parameter that names the object
    kind: str  # a key of KINDS
    # symbolic: "env:ops" (pk), "service:dev" (pk), "svcname:dev", "deployment:dev",
    # "endpoint:ops" (the environment's endpoint URL)
    args: tuple = ()
    data: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.name, self.method, self.param)

    def __str__(self) -> str:
        where = "?" if self.method == "get" else "body."
        args = f"({','.join(self.args)})" if self.args else ""
        return f"{self.method.upper()} {self.name}{args} {where}{self.param}"


CASES = [
    # A new pipeline names its service.
    Case(
        "pipeline-list",
        "post",
        "service",
        "service-name",
        data={"name": "p", "text": "stages: []"},
    ),
    # Deploy: a service and an environment by name / slug.
    Case(
        "deployment-list",
        "post",
        "environment",
        "env-slug",
        data={"service": "svcname:dev", "digest": DIGEST},
    ),
    Case(
        "deployment-list",
        "post",
        "service",
        "service-name",
        data={"environment": "dev", "digest": DIGEST},
    ),
    # The rollback's documented request is DeploySerializer(partial=True).
    # List filters.
    Case("deployment-list", "get", "environment", "env-slug"),
    Case("deployment-list", "get", "service", "service-name"),
    Case("grant-list", "get", "environment", "env-pk"),
    Case("audit-event-list", "get", "environment", "env-pk"),
    Case("image-list", "get", "repository", "repository-name"),
    # A new service names its registry.
    Case(
        "service-list",
        "post",
        "registry",
        "registry-name",
        data={"name": "newsvc", "repository": "team/new-app"},
    ),
    # Per-environment service operations, on a service the developer can see.
    Case(
        "service-configs",
        "post",
        "environment",
        "env-slug",
        args=("service:dev",),
        data={"document": {"replicas": 1}},
    ),
    Case(
        "service-export",
        "get",
        "environment",
        "env-slug",
        args=("service:dev",),
        data={"syntax": "yaml"},
    ),
    Case("service-candidates", "get", "environment", "env-slug", args=("service:dev",)),
    Case(
        "service-scale",
        "post",
        "environment",
        "env-slug",
        args=("service:dev",),
        data={"replicas": 1},
    ),
    Case("service-traffic", "get", "environment", "env-slug", args=("service:dev",)),
    Case("service-restart", "post", "environment", "env-slug", args=("service:dev",)),
    Case("service-stop", "post", "environment", "env-slug", args=("service:dev",)),
    # Sign-off: the source, or the target with Test (visible to the developer) as source.
    Case(
        "promotion-list",
        "post",
        "source_environment",
        "env-pk",
        data={"repository": "team/dev-app", "digest": DIGEST},
    ),
    Case(
        "promotion-list",
        "post",
        "target_environment",
        "env-pk",
        data={"source_environment": "env:test", "repository": "team/dev-app", "digest": DIGEST},
    ),
    # Grants.
    Case(
        "grant-list",
        "post",
        "environment",
        "env-pk",
        data={"group": "Developers", "role": "tester"},
    ),
    # Environments name their registry (by id).
    Case(
        "environment-list",
        "post",
        "registry",
        "registry-pk",
        data={"name": "Stage", "slug": "stage", "endpoint_url": "unix:///var/run/docker.sock"},
    ),
    Case(
        "environment-detail",
        "put",
        "registry",
        "registry-pk",
        args=("env:ops",),
        data={"name": "Ops", "slug": "ops", "endpoint_url": "endpoint:ops"},
    ),
    Case("environment-detail", "patch", "registry", "registry-pk", args=("env:ops",)),
]


def _pairs():
    for case in CASES:
        family = KINDS[case.kind][0]
        for persona, hidden in HIDDEN.items():
            if family in hidden:
                yield pytest.param(case, persona, id=f"{case} as {persona}")


@pytest.fixture
def world(environments, personas, admin_user) -> dict[str, dict]:
    """Registries of Dev/Test, of Ops and of no environment; a service configured and
    deployed in Dev and one in Ops; a repository with an image in each registry; a
    promotion from Test into Ops; and an API token and a star of the admin (so no list is
    empty)."""
    registries = {
        key: Registry.objects.create(name=f"{key}-registry", url="http://127.0.0.1:1")
        for key in ("dev", "ops", "orphan")
    }
    for slug, key in (("dev", "dev"), ("test", "dev"), ("ops", "ops")):
        environments[slug].registry = registries[key]
        environments[slug].save()
    services, deployments = {}, {}
    for key in ("dev", "ops"):
        service = Service.objects.create(
            name=f"{key}-svc", registry=registries[key], repository=f"team/{key}-app"
        )
        config = ServiceConfig.objects.create(
            service=service, environment=environments[key], revision=1,
            document=validate({"replicas": 1}),
        )  # fmt: skip
        deployments[key] = Deployment.objects.create(
            service=service, environment=environments[key], config=config, digest=DIGEST,
            strategy="rolling", status="succeeded",
        )  # fmt: skip
        services[key] = service
    repositories = {
        key: Repository.objects.create(registry=registry, name=f"team/{key}-app")
        for key, registry in registries.items()
    }
    for repository in repositories.values():
        Image.objects.create(repository=repository, digest=DIGEST)
    Promotion.objects.create(
        digest=DIGEST, source_environment=environments["test"],
        target_environment=environments["ops"], source_registry=registries["dev"],
        source_repository="team/dev-app", target_registry=registries["ops"],
        target_repository="team/dev-app", status=Promotion.Status.SUCCEEDED,
    )  # fmt: skip
    create_token(admin_user, "probe")
    Favourite.objects.create(user=admin_user, environment=environments["dev"])
    text = "stages:\n  - {name: gate, kind: approval, environment: dev}\n"
    pipeline = Pipeline.objects.create(
        service=services["dev"], name="world", environment=environments["dev"]
    )
    revision = PipelineRevision.objects.create(
        pipeline=pipeline, revision=1, text=text, document={"steps": []}
    )
    PipelineRun.objects.create(pipeline=pipeline, revision=revision, digest=DIGEST)
    return {
        "env": environments,
        "service": services,
        "registry": registries,
        "repository": repositories,
        "deployment": deployments,
    }


def _resolve(value, world):
    if not isinstance(value, str) or ":" not in value or value.startswith("sha256:"):
        return value
    kind, key = value.split(":", 1)
    if kind == "env":
        return world["env"][key].pk
    if kind == "endpoint":
        return world["env"][key].endpoint_url
    if kind == "service":
        return world["service"][key].pk
    if kind == "svcname":
        return world["service"][key].name
    if kind == "deployment":
        return world["deployment"][key].pk
    return value


def _normalised(text: str, identifiers) -> str:
    """``text`` with every identifier, as a whole token, replaced by ``<ID>``."""
    for identifier in sorted({str(i) for i in identifiers}, key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(identifier)}(?!\w)", "<ID>", text)
    return text


@pytest.mark.parametrize(("case", "persona"), list(_pairs()))
def test_a_hidden_object_answers_like_a_missing_one(case, persona, world, api_for):
    family, attribute = KINDS[case.kind]
    hidden = getattr(world[family][HIDDEN[persona][family]], attribute)
    missing = MISSING[case.kind]
    url = reverse(case.name, args=[_resolve(arg, world) for arg in case.args])
    data = {key: _resolve(value, world) for key, value in case.data.items()}
    client = api_for(persona)
    options = {} if case.method == "get" else {"format": "json"}
    answers = {}
    # Missing first: a request naming nothing must never change anything.
    for label, identifier in (("missing", missing), ("hidden", hidden)):
        response = getattr(client, case.method)(url, data | {case.param: identifier}, **options)
        answers[label] = (
            response.status_code,
            response.get("Content-Type"),
            _normalised(response.content.decode(errors="replace"), (hidden, missing)),
        )
    report = (
        f"{case} as {persona}: hidden {hidden!r} -> {answers['hidden']}, "
        f"missing {missing!r} -> {answers['missing']}"
    )
    assert answers["hidden"][0] < 500 and answers["missing"][0] < 500, report
    assert answers["hidden"] == answers["missing"], report


# --- Coverage: every route and parameter that names a restricted object has a case ---


def _api_patterns(patterns=None, prefix=""):
    """``(url name, callback)`` of every named route under /api/."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            yield from _api_patterns(entry.url_patterns, prefix + str(entry.pattern))
        elif (
            isinstance(entry, URLPattern)
            and entry.name
            and (prefix + str(entry.pattern)).startswith("api/")
        ):
            yield entry.name, entry.callback


def _methods(callback) -> list[str]:
    if getattr(callback, "actions", None):
        # DRF adds "head" to this dict once a GET has been served: skip it (it is the GET).
        return [m for m in callback.actions if m not in ("head", "options")]
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    return [m for m in ("get", "post", "put", "patch", "delete") if hasattr(view_class, m)]


def _is_restricted_model(model) -> bool:
    return callable(getattr(model._default_manager, "restrict", None))


def _restricted_fields(serializer) -> set[str]:
    """Writable related fields, with a queryset, of models with an access path."""
    if isinstance(serializer, type):
        serializer = serializer()
    names = set()
    for name, form_field in serializer.fields.items():
        if form_field.read_only:
            continue
        if isinstance(form_field, serializers.ManyRelatedField):
            form_field = form_field.child_relation
        if (
            isinstance(form_field, serializers.RelatedField)
            and form_field.queryset is not None
            and _is_restricted_model(form_field.queryset.model)
        ):
            names.add(name)
    return names


def _as_serializers(declared) -> list:
    if isinstance(declared, dict):
        return [s for value in declared.values() for s in _as_serializers(value)]
    if isinstance(declared, serializers.BaseSerializer) or (
        isinstance(declared, type) and issubclass(declared, serializers.BaseSerializer)
    ):
        return [declared]
    return []


def _declared_parameters() -> set[tuple[str, str, str]]:
    """Body fields and declared query parameters naming a restricted object, per route
    and method, as drf-spectacular introspects them."""
    generator = SchemaGenerator()
    found = set()
    for name, callback in _api_patterns():
        for method in _methods(callback):
            view = generator.create_view(callback, method.upper())
            schema = getattr(view, "schema", None)
            if schema is None:  # views left out of the schema (the root, the schema)
                continue
            view.request = None
            schema.method = method.upper()  # as get_operation() sets it: per-method schemas
            if method in ("post", "put", "patch"):
                for serializer in _as_serializers(schema.get_request_serializer()):
                    found |= {(name, method, f) for f in _restricted_fields(serializer)}
            for parameter in schema.get_override_parameters():
                if isinstance(parameter, OpenApiParameter):
                    if parameter.location == OpenApiParameter.QUERY and (
                        parameter.name in PROBED_PARAMS
                    ):
                        found.add((name, method, parameter.name))
                else:
                    for serializer in _as_serializers(parameter):
                        found |= {(name, method, f) for f in _restricted_fields(serializer)}
    return found


def _rows(data):
    return data["results"] if isinstance(data, dict) and "results" in data else data


def _probed_list_filters(admin_user) -> set[tuple[str, str, str]]:
    """List routes whose answer changes when a parameter names nothing: they read it."""
    client = APIClient()
    client.force_authenticate(admin_user)
    found = set()
    names = {n for n, cb in _api_patterns() if (getattr(cb, "actions", None) or {}).get("get") == "list"}  # fmt: skip
    for name in sorted(names):
        url = reverse(name)
        unfiltered = client.get(url)
        assert unfiltered.status_code == 200 and _rows(unfiltered.data), (
            f"{name} lists nothing for the superuser: the probe of its filters needs rows "
            "(add some to the world fixture)"
        )
        for param in PROBED_PARAMS:
            for nothing in ("987650", "zz-nothing"):
                probed = client.get(url, {param: nothing})
                if (probed.status_code, probed.data) != (200, unfiltered.data):
                    found.add((name, "get", param))
    return found


def test_every_route_naming_a_restricted_object_is_covered(world, admin_user):
    expected = _declared_parameters() | _probed_list_filters(admin_user)
    covered = {case.key for case in CASES}
    missing, stale = sorted(expected - covered), sorted(covered - expected)
    assert not missing, f"routes naming a restricted object without a case here: {missing}"
    assert not stale, f"cases for parameters no route reads any more: {stale}"


def test_the_hidden_objects_exist_and_are_hidden(world, personas):
    """The premise: each persona's hidden object exists, and the persona cannot see it."""
    for persona, hidden in HIDDEN.items():
        for family, key in hidden.items():
            obj = world[family][key]
            manager = type(obj)._default_manager
            assert manager.filter(pk=obj.pk).exists()
            visible = manager.restrict(personas[persona])
            assert not visible.filter(pk=obj.pk).exists(), f"{persona} sees {family} {key}"

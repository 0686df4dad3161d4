"""The page kit: every HTML page, as every persona, with the expected answer.

The pages are read from the root URL resolver. Everything outside ``/api/`` (the API
kit, ``tests/test_api_permissions.py``), ``/admin/`` (tested at the end of this module),
``/hooks/`` (webhooks authenticate with a secret) and the login and logout views is a
page, and ``test_every_page_route_is_in_the_kit`` fails until a new one is listed in
``CASES``. Each case is one request on real objects (``world``):

* 200 where the persona may see the page; for an action form posted without CSRF (the
  test client does not enforce it), 302 to where the form sends one back, and whether
  the post changed anything is checked too (``changes``);
* 404 where the environment (or the service, deployment, image or grant) is hidden
  from the persona: hidden and missing are the same answer, never a 403;
* 403 only where the persona sees the environment but lacks the action;
* 302 to the login page, with ``next``, for anonymous, on every page and every method;
* 405 for a GET of a form that only takes POST.

A GET never writes: every GET case also checks that it made no database write (other
than the session), probed no endpoint synchronously and queued no task, except the
endpoint fragment, which is documented to queue a probe when the last one is stale.

``test_a_hidden_object_answers_like_a_missing_one`` then asks each page once with an
object the developer cannot see and once with one nobody has, for each URL parameter
(and the query parameters that name an object): status and visible page must be the
same. ``test_every_page_parameter_is_checked`` fails when a parameter has no such pair.

Containers are found by asking the engine: those cases run a real container (and so
need ``docker_host``), and the log download, whose access check runs in the log I/O
pool's threads, runs on a committed (transactional) database.
"""

from __future__ import annotations

import re
import sys
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import docker
import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from environments import actions, engine
from environments.deploying.config import validate
from environments.models import Deployment, RoleGrant, Service, ServiceConfig
from pipelines.models import Pipeline, PipelineRevision, PipelineRun, StageRun
from portal.core.tokens import create_token
from portal.models import ApiToken
from registry.models import Image, Registry, Repository
from tests import stack

pytestmark = pytest.mark.django_db

ALL = ("developer", "tester", "operator", "stranger", "anonymous")
# Prefixes and route names that are not pages, or are tested elsewhere.
NOT_PAGES = ("api/", "admin/", "hooks/", "static/")
EXEMPT = {
    "login": "the sign-in form itself: public; sign-in limits in test_login_limits.py",
    "logout": "ends the session: nothing to protect",
    "favicon": "a redirect to the static icon: public, like static/",
}
MISSING_CONTAINER = "berth-no-such-container"
MISSING_ID = 987654
DIGEST = "sha256:" + "e" * 64
IDLE = "trap 'exit 0' TERM; while :; do sleep 0.1; done"


def s(developer, tester, operator, stranger, anonymous=302) -> dict[str, int]:
    return dict(zip(ALL, (developer, tester, operator, stranger, anonymous), strict=True))


LOGGED_IN = s(200, 200, 200, 200)
EVERY_ENV = s(200, 200, 200, 404)  # Dev or Test: everyone with a role sees them
OPS = s(404, 200, 200, 404)  # the developer has no role in Ops
POST_ONLY = s(405, 405, 405, 405)


@dataclass
class Case:
    name: str  # URL name
    expected: dict[str, int]
    # Literal slugs and names, or symbolic ids: "deployment:dev", "image:ops",
    # "grant:ops", "token:own", "token:other", and "container:dev" (a real running
    # container labelled for that environment: the case needs the engine).
    args: tuple = ()
    method: str = "get"
    data: dict = field(default_factory=dict)
    engine: bool = False  # the page reads the engine (containers, running images)
    redirect: str = ""  # URL name a logged-in 302 goes to (the case's slug if it takes one)
    # For a POST: what it may change (a key of OBSERVE) and the personas it changes it for.
    observe: str = ""
    changes: tuple = ()
    queues_task: bool = False  # documented: the page may queue one task (a probe)

    @property
    def needs_engine(self) -> bool:
        return self.engine or any(str(a).startswith("container:") for a in self.args)

    @property
    def threaded(self) -> bool:
        """Checks access in a worker thread: needs a committed database."""
        return self.name == "env-container-logs-download"

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.name}{list(self.args) if self.args else ''}"


CASES = [
    # Portal pages: every signed-in user has their own.
    Case("dashboard", LOGGED_IN),
    Case("profile", LOGGED_IN),
    Case("audit-log", LOGGED_IN),
    Case("page-deployment-list", LOGGED_IN),
    Case("help", LOGGED_IN),
    Case(
        "token-create",
        s(302, 302, 302, 302),
        method="post",
        data={"name": "kit"},
        redirect="profile",
        observe="tokens",
        changes=("developer", "tester", "operator", "stranger"),
    ),
    Case("token-create", POST_ONLY),
    # One's own token is revoked; someone else's is "does not exist" and stays.
    Case(
        "token-revoke",
        s(302, 302, 302, 302),
        args=("token:own",),
        method="post",
        redirect="profile",
        observe="tokens",
        changes=("developer", "tester", "operator", "stranger"),
    ),
    Case(
        "token-revoke",
        s(302, 302, 302, 302),
        args=("token:other",),
        method="post",
        redirect="profile",
        observe="tokens",
    ),
    Case("token-revoke", POST_ONLY, args=("token:own",)),
    # Environments and their fragments.
    Case("env-page", EVERY_ENV, args=("dev",)),
    Case("env-page", EVERY_ENV, args=("test",)),
    Case("env-page", OPS, args=("ops",)),
    Case("env-endpoint-fragment", EVERY_ENV, args=("dev",), queues_task=True),
    Case("env-endpoint-fragment", OPS, args=("ops",), queues_task=True),
    Case("env-containers-fragment", EVERY_ENV, args=("dev",), engine=True),
    Case("env-containers-fragment", OPS, args=("ops",), engine=True),
    Case("env-deployed-fragment", EVERY_ENV, args=("test",), engine=True),
    Case("env-deployed-fragment", OPS, args=("ops",), engine=True),
    # A container: the page needs view; its log download needs view_logs.
    Case("env-container", EVERY_ENV, args=("dev", "container:dev")),
    Case("env-container", OPS, args=("ops", "container:ops")),
    Case("env-container-logs-download", s(200, 403, 403, 404), args=("dev", "container:dev")),
    Case("env-container-logs-download", s(200, 200, 403, 404), args=("test", "container:test")),
    Case("env-container-logs-download", s(404, 403, 200, 404), args=("ops", "container:ops")),
    # Access: only managers (operators, in Ops) see the grants and change them.
    Case("env-access", s(403, 403, 403, 404), args=("dev",)),
    Case("env-access", s(403, 403, 403, 404), args=("test",)),
    Case("env-access", s(404, 403, 200, 404), args=("ops",)),
    Case(
        "env-grant",
        s(404, 403, 302, 404),
        args=("ops",),
        method="post",
        data={"principal": "user:stranger", "role": "tester"},
        redirect="env-access",
        observe="grants",
        changes=("operator",),
    ),
    Case(
        "env-grant",
        s(403, 403, 403, 404),
        args=("dev",),
        method="post",
        data={"principal": "user:stranger", "role": "tester"},
        observe="grants",
    ),
    Case("env-grant", POST_ONLY, args=("ops",)),
    Case(
        "env-revoke",
        s(404, 403, 302, 404),
        args=("ops", "grant:ops"),
        method="post",
        redirect="env-access",
        observe="grants",
        changes=("operator",),
    ),
    Case(
        "env-revoke",
        s(403, 403, 403, 404),
        args=("dev", "grant:dev"),
        method="post",
        observe="grants",
    ),
    Case("env-revoke", POST_ONLY, args=("ops", "grant:ops")),
    # Services ("web": configured in Dev and Ops, "vault": in Ops only, "fresh": nowhere)
    # and deployments.
    Case("page-service-list", LOGGED_IN),
    Case("page-service", EVERY_ENV, args=("web",)),
    Case("page-service", OPS, args=("vault",)),
    # Configured nowhere yet: shown to whoever may deploy somewhere, so they can set it up.
    Case("page-service", EVERY_ENV, args=("fresh",)),
    Case("page-service-config-json", EVERY_ENV, args=("web", "dev")),
    Case("page-service-config-json", OPS, args=("web", "ops")),
    Case("page-service-config-json", OPS, args=("vault", "ops")),
    Case("page-service-config-yaml", EVERY_ENV, args=("web", "dev")),
    Case("page-service-config-yaml", OPS, args=("web", "ops")),
    Case("page-service-logs", s(200, 403, 403, 404), args=("web", "dev")),
    Case("page-service-logs", s(404, 403, 200, 404), args=("web", "ops")),
    Case("page-service-logs", s(404, 403, 200, 404), args=("vault", "ops")),
    Case("page-deployment", EVERY_ENV, args=("deployment:dev",)),
    Case("page-deployment", OPS, args=("deployment:ops",)),
    # Images (one in Dev's registry, one in Ops') and the promotion board.
    Case("image-page-list", LOGGED_IN),
    Case("image-page", EVERY_ENV, args=("image:dev",), engine=True),
    Case("image-page", OPS, args=("image:ops",), engine=True),
    Case("promotion-board", LOGGED_IN, engine=True),
    # Pipelines (one at home in Dev, one in Ops) and their runs.
    Case("pipeline-page-list", LOGGED_IN),
    Case("pipeline-page", EVERY_ENV, args=("pipeline:dev",)),
    Case("pipeline-page", OPS, args=("pipeline:ops",)),
    Case("pipeline-run-page", EVERY_ENV, args=("run:dev",)),
    Case("pipeline-run-page", OPS, args=("run:ops",)),
    Case("pipeline-run-graph", EVERY_ENV, args=("run:dev",)),
    Case("pipeline-run-graph", OPS, args=("run:ops",)),
]


# What a POST may change, as a comparable snapshot.
OBSERVE = {
    "grants": lambda: set(
        RoleGrant.objects.values_list("environment__slug", "user__username", "group__name", "role")
    ),
    "tokens": lambda: set(ApiToken.objects.values_list("pk", "user__username", "name")),
}


# -- objects -------------------------------------------------------------------------


@pytest.fixture
def world(personas, environments, admin_user) -> dict[str, dict]:
    """Real objects for the symbolic arguments: by kind, then by environment."""
    registry = Registry.objects.create(name="pages", url="http://127.0.0.1:1")
    web = Service.objects.create(
        name="web", registry=registry, repository="demo/app", created_by=admin_user
    )
    vault = Service.objects.create(
        name="vault", registry=registry, repository="team/vault", created_by=admin_user
    )
    Service.objects.create(
        name="fresh", registry=registry, repository="team/fresh", created_by=admin_user
    )
    deployments = {}
    for service, slug in ((web, "dev"), (web, "ops"), (vault, "ops")):
        environment = environments[slug]
        for revision in (1, 2):
            config = ServiceConfig.objects.create(
                service=service, environment=environment, revision=revision,
                document=validate({"replicas": revision, "env": {"MODE": slug}}),
            )  # fmt: skip
        deployment = Deployment.objects.create(
            service=service, environment=environment, config=config, digest=DIGEST,
            strategy="rolling", status="succeeded", actor=admin_user,
        )  # fmt: skip
        deployments.setdefault(slug, deployment)
    images = {}
    for slug in ("dev", "ops"):
        env_registry = Registry.objects.create(name=f"{slug}-registry", url="http://127.0.0.1:2")
        environments[slug].registry = env_registry
        environments[slug].save()
        repository = Repository.objects.create(registry=env_registry, name="kit/app")
        images[slug] = Image.objects.create(repository=repository, digest="sha256:" + "c" * 64)
    auditors = Group.objects.create(name="Auditors")
    grants = {
        "ops": actions.grant_role(
            admin_user, environments["ops"], role="tester", to_group=auditors
        ),
        "dev": RoleGrant.objects.filter(environment=environments["dev"]).first(),
    }
    pipelines, runs = {}, {}
    for slug in ("dev", "ops"):
        text = f"stages:\n  - {{name: deploy-{slug}, kind: deploy, environment: {slug}}}\n"
        pipeline = Pipeline.objects.create(
            service=web, name=f"to-{slug}", environment=environments[slug], created_by=admin_user
        )
        revision = PipelineRevision.objects.create(
            pipeline=pipeline, revision=1, text=text, document={"stages": []}, created_by=admin_user
        )
        run = PipelineRun.objects.create(
            pipeline=pipeline, revision=revision, digest=DIGEST, actor=admin_user, status="waiting"
        )
        StageRun.objects.create(
            run=run, step=0, name=f"deploy-{slug}", kind="deploy", plan={},
            environment=environments[slug], status="waiting",
        )  # fmt: skip
        pipelines[slug], runs[slug] = pipeline, run
    return {
        "deployment": deployments, "image": images, "grant": grants,
        "pipeline": pipelines, "run": runs,
    }  # fmt: skip


@pytest.fixture
def page_containers(docker_host):
    """``make("dev")``: the id of a running container labelled for that environment (one
    per environment and test), removed afterwards."""
    client = docker.DockerClient(base_url=docker_host, version="auto")
    started = {}

    def make(slug: str) -> str:
        if slug not in started:
            started[slug] = client.containers.run(
                stack.TEST_IMAGE,
                ["sh", "-c", IDLE],
                name=f"berth-pages-{slug}-{uuid.uuid4().hex[:10]}",
                labels={engine.LABEL_ENVIRONMENT: slug},
                network_mode="none",
                detach=True,
            )
        return started[slug].id

    yield make
    for container in started.values():
        container.remove(force=True)
    client.close()


def _resolve(value, request, world, personas, persona):
    if not isinstance(value, str) or ":" not in value:
        return value
    kind, key = value.split(":", 1)
    if kind == "container":
        return request.getfixturevalue("page_containers")(key)
    if kind == "token":
        owner = personas[persona] if key == "own" else personas["operator"]
        if owner is None or (key == "other" and persona == "operator"):
            owner = personas["tester"]
        return create_token(owner, f"kit-{key}")[0].pk
    return world[kind][key].pk


def _client(personas, persona) -> Client:
    client = Client(raise_request_exception=False)
    if personas[persona] is not None:
        client.force_login(personas[persona])
    return client


# -- the table -----------------------------------------------------------------------


class _Probes:
    """Records synchronous endpoint probes instead of running them."""

    def __init__(self, monkeypatch):
        self.calls = []
        original = engine.probe

        def record(environment, *args, **kwargs):
            self.calls.append(environment)
            return original(environment, *args, **kwargs)

        monkeypatch.setattr(engine, "probe", record)
        monkeypatch.setattr(sys.modules["environments.engine.probe"], "probe", record)


def _check_case(request, case, persona, personas, world, *, side_effects):
    if case.needs_engine:
        request.getfixturevalue("docker_host")
    args = [_resolve(a, request, world, personas, persona) for a in case.args]
    url = reverse(case.name, args=args)
    client = _client(personas, persona)
    before = OBSERVE[case.observe]() if case.observe else None
    if case.method == "get" and side_effects:
        probes = _Probes(request.getfixturevalue("monkeypatch"))
        capture = request.getfixturevalue("django_capture_on_commit_callbacks")
        with CaptureQueriesContext(connection) as queries, capture() as queued:
            response = client.get(url)
        writes = [
            q["sql"]
            for q in queries.captured_queries
            if re.match(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", q["sql"], re.I)
            and "django_session" not in q["sql"]
        ]
        assert not writes, f"{case} as {persona} wrote on GET: {writes}"
        assert not probes.calls, f"{case} as {persona} probed the endpoint on GET"
        allowed = 1 if case.queues_task else 0
        assert len(queued) <= allowed, f"{case} as {persona} queued {len(queued)} tasks on GET"
    else:
        response = getattr(client, case.method)(url, case.data)
    got = response.status_code
    if response.streaming:
        response.close()
    assert got == case.expected[persona], (
        f"{case} as {persona}: got {got}, expected {case.expected[persona]}"
        f"{_visible_message(response)}"
    )
    if got == 302:
        location = response["Location"]
        if persona == "anonymous":
            parts = urlsplit(location)
            assert parts.path == reverse("login"), f"{case} as anonymous went to {location}"
            assert parse_qs(parts.query)["next"] == [url], location
        else:
            slug = [a for a in args if isinstance(a, str)][:1]
            assert location == reverse(case.redirect, args=slug), f"{case}: {location}"
    if case.observe:
        changed = OBSERVE[case.observe]() != before
        assert changed == (persona in case.changes), (
            f"{case} as {persona} {'changed' if changed else 'did not change'} {case.observe}"
        )


def _visible_message(response) -> str:
    if response.streaming or "html" not in response.get("Content-Type", ""):
        return ""
    page = response.content.decode(errors="replace")
    found = re.search(r"<h1>(.*?)</h1>\s*<p>(.*?)</p>", page, re.S)
    return f" ({found.group(1)}: {found.group(2)})" if found else ""


def _cases(threaded: bool):
    return [pytest.param(c, id=str(c)) for c in CASES if c.threaded == threaded]


@pytest.mark.parametrize("persona", ALL)
@pytest.mark.parametrize("case", _cases(threaded=False))
def test_page_answers_persona_as_expected(request, case, persona, personas, world):
    _check_case(request, case, persona, personas, world, side_effects=True)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("persona", ALL)
@pytest.mark.parametrize("case", _cases(threaded=True))
def test_threaded_page_answers_persona_as_expected(request, case, persona, personas, world):
    _check_case(request, case, persona, personas, world, side_effects=False)


def _page_routes(patterns, prefix="") -> dict[str, URLPattern]:
    """``{name (or pattern when unnamed): pattern}`` of every page route."""
    found = {}
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found |= _page_routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern) and not route.startswith(NOT_PAGES):
            found[entry.name or route] = entry
    return found


PAGES = _page_routes(get_resolver().url_patterns)


def test_every_page_route_is_in_the_kit():
    covered = {case.name for case in CASES} | set(EXEMPT)
    missing = set(PAGES) - covered
    assert not missing, f"Pages without permission cases: {sorted(missing)}"
    assert not covered - set(PAGES), f"Cases for routes that are gone: {covered - set(PAGES)}"


def test_every_page_is_asked_as_anonymous_and_as_a_stranger():
    """Each page has a case where anonymous is sent to sign in and the stranger (no role
    anywhere) gets neither the page of an environment nor a 403 that says it exists."""
    for name in set(PAGES) - set(EXEMPT):
        cases = [case for case in CASES if case.name == name]
        assert all(case.expected["anonymous"] == 302 for case in cases), name
        assert all(case.expected["stranger"] != 403 for case in cases), name


# -- hidden is missing ---------------------------------------------------------------


@dataclass
class Pair:
    """One page asked twice as ``persona``: naming what they cannot see, then naming
    what nobody has; only ``param`` differs."""

    name: str
    param: str  # the URL parameter (or "?query") that differs
    hidden: tuple
    missing: tuple
    method: str = "get"
    data: dict = field(default_factory=dict)
    query: tuple[dict, dict] = ({}, {})
    persona: str = "developer"

    @property
    def case(self) -> Case:
        return Case(self.name, {}, args=self.hidden + self.missing)

    def __str__(self) -> str:
        missing = [a for a in self.missing if a not in self.hidden]
        odd = f" ({missing[0]!r})" if missing and missing[0] in (".", "..") else ""
        return f"{self.method.upper()} {self.name} {self.param}{odd} as {self.persona}"


PAIRS = [
    Pair("env-page", "slug", ("ops",), ("nowhere",)),
    Pair("env-endpoint-fragment", "slug", ("ops",), ("nowhere",)),
    Pair("env-containers-fragment", "slug", ("ops",), ("nowhere",)),
    Pair("env-deployed-fragment", "slug", ("ops",), ("nowhere",)),
    Pair("env-container", "slug", ("ops", "container:ops"), ("nowhere", "container:ops")),
    Pair("env-container", "container_id", ("dev", "container:ops"), ("dev", MISSING_CONTAINER)),
    Pair(
        "env-container-logs-download",
        "slug",
        ("ops", "container:ops"),
        ("nowhere", "container:ops"),
    ),
    Pair(
        "env-container-logs-download",
        "container_id",
        ("dev", "container:ops"),
        ("dev", MISSING_CONTAINER),
    ),
    # References nobody has that Docker's API would read as a path ("." and ".."): still
    # just no such container.
    *(
        Pair(name, "container_id", ("dev", "container:ops"), ("dev", reference))
        for name in ("env-container", "env-container-logs-download")
        for reference in (".", "..")
    ),
    Pair("env-access", "slug", ("ops",), ("nowhere",)),
    Pair(
        "env-grant",
        "slug",
        ("ops",),
        ("nowhere",),
        method="post",
        data={"principal": "user:stranger", "role": "tester"},
    ),
    Pair("env-revoke", "slug", ("ops", "grant:ops"), ("nowhere", "grant:ops"), method="post"),
    # The developer manages nowhere (403 before the grant is looked up); the operator,
    # who manages Ops, asks Ops for a grant of Dev.
    Pair("env-revoke", "grant_id", ("dev", "grant:ops"), ("dev", MISSING_ID), method="post"),
    Pair(
        "env-revoke",
        "grant_id",
        ("ops", "grant:dev"),
        ("ops", MISSING_ID),
        method="post",
        persona="operator",
    ),
    Pair("page-service", "name", ("vault",), ("no-such-service",)),
    Pair("page-service-config-json", "name", ("vault", "dev"), ("no-such-service", "dev")),
    Pair("page-service-config-json", "slug", ("web", "ops"), ("web", "nowhere")),
    Pair("page-service-config-yaml", "name", ("vault", "dev"), ("no-such-service", "dev")),
    Pair("page-service-config-yaml", "slug", ("web", "ops"), ("web", "nowhere")),
    Pair("page-service-logs", "name", ("vault", "dev"), ("no-such-service", "dev")),
    Pair("page-service-logs", "slug", ("web", "ops"), ("web", "nowhere")),
    Pair("page-deployment", "pk", ("deployment:ops",), (MISSING_ID,)),
    Pair("image-page", "image_id", ("image:ops",), (MISSING_ID,)),
    Pair("pipeline-page", "pk", ("pipeline:ops",), (MISSING_ID,)),
    Pair("pipeline-run-page", "pk", ("run:ops",), (MISSING_ID,)),
    Pair("pipeline-run-graph", "pk", ("run:ops",), (MISSING_ID,)),
    # Someone else's token is as missing as one nobody has.
    Pair("token-revoke", "token_id", ("token:other",), (MISSING_ID,), method="post"),
    # Query parameters naming an environment.
    Pair(
        "audit-log",
        "?environment",
        (),
        (),
        query=({"environment": "env:ops"}, {"environment": MISSING_ID}),
    ),
    Pair(
        "page-deployment-list",
        "?environment",
        (),
        (),
        query=({"environment": "ops"}, {"environment": "nowhere"}),
    ),
    Pair(
        "page-service",
        "?env",
        ("web",),
        ("web",),
        query=({"env": "ops", "rev": "1"}, {"env": "nowhere", "rev": "1"}),
    ),
]


def _visible(response) -> tuple:
    """What the person sees: status, type, the redirect chain, and the page with its
    per-response CSRF mask removed."""
    body = b"".join(response.streaming_content) if response.streaming else response.content
    body = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", body)
    return (
        response.status_code,
        response.get("Content-Type"),
        [url for url, _ in getattr(response, "redirect_chain", [])],
        body.decode(errors="replace"),
    )


def _pairs(threaded: bool):
    return [pytest.param(p, id=str(p)) for p in PAIRS if p.case.threaded == threaded]


@pytest.mark.parametrize("pair", _pairs(threaded=False))
def test_a_hidden_object_answers_like_a_missing_one(request, pair, personas, world, environments):
    """A slug or id the persona cannot see is answered exactly like one nobody has."""
    _check_pair(request, pair, personas, world, environments)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("pair", _pairs(threaded=True))
def test_a_hidden_object_answers_like_a_missing_one_threaded(
    request, pair, personas, world, environments
):
    _check_pair(request, pair, personas, world, environments)


def _check_pair(request, pair, personas, world, environments):
    if pair.case.needs_engine:
        request.getfixturevalue("docker_host")
    answers = []
    for args, query in ((pair.hidden, pair.query[0]), (pair.missing, pair.query[1])):
        args = [_resolve(a, request, world, personas, pair.persona) for a in args]
        query = {
            key: environments[value[4:]].pk if str(value).startswith("env:") else value
            for key, value in query.items()
        }
        url = reverse(pair.name, args=args)
        client = _client(personas, pair.persona)
        if pair.method == "get":
            response = client.get(url, query, follow=True)
        else:
            response = client.post(url, pair.data, follow=True)
        answers.append(_visible(response))
    (status, kind, chain, page), missing = answers
    assert status in (200, 403, 404), f"{pair}: {status}{_visible_message_of(page)}"
    assert answers[0] == missing, (
        f"{pair}: hidden answered {status} {_visible_message_of(page)}, "
        f"missing {missing[0]} {_visible_message_of(missing[3])}"
    )


def _visible_message_of(page: str) -> str:
    found = re.search(r"<h1>(.*?)</h1>\s*<p>(.*?)</p>", page, re.S)
    messages = re.findall(r'<li class="msg [^"]*" role="status">(.*?)</li>', page)
    return (f"({found.group(1)}: {found.group(2)})" if found else "") + "".join(messages)


def test_every_page_parameter_is_checked():
    """Each URL parameter of each page has a hidden-versus-missing pair."""
    for name, pattern in PAGES.items():
        checked = {pair.param for pair in PAIRS if pair.name == name}
        unchecked = set(pattern.pattern.converters) - checked
        assert not unchecked, f"{name}: no hidden/missing pair for {sorted(unchecked)}"


# -- Django admin --------------------------------------------------------------------


@pytest.mark.parametrize("persona", ALL)
@pytest.mark.parametrize(
    "url", ["admin:index", "admin:environments_environment_changelist", "admin:auth_user_add"]
)
def test_the_admin_sends_everyone_but_staff_to_its_login(persona, url, personas):
    """No persona is staff: the admin answers each with its own sign-in page."""
    target = reverse(url)
    response = _client(personas, persona).get(target)
    assert response.status_code == 302, f"{url} as {persona}: {response.status_code}"
    parts = urlsplit(response["Location"])
    assert parts.path == reverse("admin:login") and parse_qs(parts.query)["next"] == [target]


BERTH_APPS = {"portal", "environments", "registry"}  # their changelists: tests/test_admin.py


@pytest.mark.parametrize(
    "url",
    ["admin:index"]
    + [
        f"admin:{m._meta.app_label}_{m._meta.model_name}_changelist"
        for m in admin.site._registry
        if m._meta.app_label not in BERTH_APPS
    ],
)
def test_the_admin_opens_for_the_administrator(admin_client, personas, url):
    assert admin_client.get(reverse(url)).status_code == 200

"""Schemathesis against the API's own schema (``/api/schema/``), in-process through the
WSGI app: every operation, as an administrator's token and as a developer's, with
positive and negative (schema-breaking) data. No answer may be a 5xx, and a documented
answer must match its schema.

Bounded: ``FUZZ_EXAMPLES`` generated cases per operation (plus schemathesis' coverage
cases for boundaries and wrong types), no shrinking, no example database, the same cases
on every run (derandomized), so the module runs in about a minute and fails the same way
twice. ``BERTH_FUZZ_EXAMPLES=200`` digs deeper by hand, with random cases.

Restarting, stopping and starting a container are left out: they act on the engine at
once, and a fuzzed container id could be a prefix of a real container's id on the shared
test engine. A service's restart and stop are recorded operations whose work a task does
after commit, which never comes inside a test's transaction: they are fuzzed.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from environments.deploying.config import validate
from environments.models import Deployment, Service, ServiceConfig
from portal.core.tokens import create_token
from registry.models import Image, Registry, Repository

pytestmark = pytest.mark.django_db

FUZZ_EXAMPLES = int(os.environ.get("BERTH_FUZZ_EXAMPLES", "12"))
ENGINE_WRITES = r"/containers/\{container_id\}/(restart|stop|start)/$"
# Answers that do not match their documented schema (none now: a new one goes here, with
# a test below that shows it);
# their other checks (no 5xx) still run.
SCHEMA_BUGS: dict[str, str] = {}

CONFIG = schemathesis.Config.from_dict(
    {
        "suppress-health-check": ["all"],
        "generation": {
            "mode": "all",
            "max-examples": FUZZ_EXAMPLES,
            "no-shrink": True,
            "database": "none",
            "deterministic": "BERTH_FUZZ_EXAMPLES" not in os.environ,
        },
        "phases": {
            "stateful": {"enabled": False},
            # Every other method on every path answers 405 alike: a few are enough.
            "coverage": {"unexpected-methods": ["PUT", "DELETE"]},
        },
    }
)

schema = schemathesis.openapi.from_wsgi(
    "/api/schema/?format=json", get_wsgi_application(), config=CONFIG
).exclude(path_regex=ENGINE_WRITES)

CASES: Counter = Counter()


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """The WSGI handler closes the database connection at the start and end of each
    request, which would close the test's transaction; Django's test client does the
    same as this while it calls the app."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_tokens(personas, environments, admin_user) -> dict[str, str]:
    """Tokens of the administrator and the developer, and rows for the ids to hit: one
    of each kind (fuzzed ids favour small numbers, so id 1 is often asked for)."""
    registry = Registry.objects.create(name="fuzz", url="http://127.0.0.1:1", webhook_secret="s")
    # With a creator and an actor: without them the answers break the schema, see
    # test_a_service_and_a_deployment_without_a_user_match_the_schema below.
    service = Service.objects.create(
        name="web", registry=registry, repository="team/web", created_by=admin_user
    )
    for slug in ("dev", "ops"):
        config = ServiceConfig.objects.create(
            service=service,
            environment=environments[slug],
            revision=1,
            document=validate({"replicas": 1}),
        )
        Deployment.objects.create(
            service=service,
            environment=environments[slug],
            config=config,
            digest="sha256:" + "e" * 64,
            strategy="rolling",
            status="succeeded",
            actor=admin_user,
        )
    repository = Repository.objects.create(registry=registry, name="team/web")
    Image.objects.create(repository=repository, digest="sha256:" + "e" * 64)
    return {
        "admin": create_token(admin_user, "fuzz")[1],
        "developer": create_token(personas["developer"], "fuzz")[1],
    }


@schema.parametrize()
def test_no_input_gets_a_server_error(case, fuzz_tokens):
    """Each case as one of the two personas, in turn: both meet every operation, at half
    the cost of sending every case twice."""
    label = case.operation.label
    persona = ("admin", "developer")[CASES[label] % 2]
    CASES[label] += 1
    checks = [not_a_server_error]
    if label not in SCHEMA_BUGS:
        checks.append(response_schema_conformance)
    case.call_and_validate(
        headers={"Authorization": f"Token {fuzz_tokens[persona]}"}, checks=checks
    )


def _conforms(path: str, secret: str, **path_parameters) -> None:
    case = schema[path]["GET"].Case(path_parameters=path_parameters)
    response = case.call(headers={"Authorization": f"Token {secret}"})
    if response.status_code != 200:
        pytest.skip(f"{path} answered {response.status_code}: {response.text[:200]}")
    case.validate_response(response, checks=[response_schema_conformance])


@pytest.mark.parametrize("path", ["/api/services/", "/api/deployments/"])
def test_a_service_and_a_deployment_without_a_user_match_the_schema(fuzz_tokens, path):
    Service.objects.update(created_by=None)
    Deployment.objects.update(actor=None)
    _conforms(path, fuzz_tokens["admin"])


def test_the_configs_of_a_service_match_the_schema(fuzz_tokens):
    _conforms("/api/services/{id}/configs/", fuzz_tokens["admin"], id=Service.objects.get().pk)


def test_the_containers_of_an_environment_match_the_schema(fuzz_tokens, docker_host, environments):
    _conforms("/api/environments/{id}/containers/", fuzz_tokens["admin"], id=environments["dev"].pk)


def test_the_fuzz_ran_every_operation():
    """Runs after the fuzz in this module (pytest keeps file order): every operation
    had cases, and the figures are printed (``-s``)."""
    if not CASES:
        pytest.skip("the fuzz did not run in this session")
    operations = [result.ok().label for result in schema.get_all_operations()]
    print(f"\nschemathesis: {sum(CASES.values())} cases, {len(CASES)} operations", dict(CASES))
    missing = [label for label in operations if not CASES[label]]
    assert not missing, missing

"""Shared fixtures: personas in Dev/Test/Ops, the real stack, API clients."""

from __future__ import annotations

import tempfile

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from environments import actions
from environments.models import Environment
from environments.roles import Role, Tier
from tests import stack

PERSONAS = ("developer", "tester", "operator", "stranger", "anonymous")
GROUP_ROLES = {"Developers": Role.DEVELOPER, "Testers": Role.TESTER, "Operators": Role.OPERATOR}
PERSONA_GROUP = {"developer": "Developers", "tester": "Testers", "operator": "Operators"}


def pytest_configure(config):
    from django.conf import settings

    # Hashing passwords properly costs ~0.3 s per user; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def pytest_collection_modifyitems(config, items):
    """Browser tests last: Playwright's sync API keeps its event loop marked as running
    while the session-scoped browser lives, which breaks every async test after it."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can add logs on failure."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def pytest_sessionstart(session):
    """Under CI a missing component fails the run at once instead of skipping tests."""
    if not stack.IN_CI:
        return
    problems = [
        p for p in (stack.docker_problem(), stack.registry_problem(), stack.redis_problem()) if p
    ]
    if problems:
        pytest.exit(
            "CI=true and the real stack is incomplete: " + "; ".join(problems), returncode=3
        )


def _require(problem: str | None) -> None:
    if problem:
        if stack.IN_CI:
            pytest.fail(problem)
        pytest.skip(problem)


@pytest.fixture(scope="session")
def docker_host() -> str:
    _require(stack.docker_problem())
    return stack.DOCKER_HOST


@pytest.fixture(scope="session")
def redis_url() -> str:
    _require(stack.redis_problem())
    return stack.REDIS_URL


@pytest.fixture(scope="session")
def registry_url() -> str:
    _require(stack.registry_problem())
    return stack.REGISTRY_URL


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", "root-pass")


@pytest.fixture
def environments(db, admin_user) -> dict[str, Environment]:
    """Dev, Test and Ops on the real engine when there is one (a dead socket otherwise;
    tests that talk to the engine ask for ``docker_host``)."""
    endpoint = stack.DOCKER_HOST or "unix:///nonexistent/docker.sock"
    specs = [
        ("Dev", "dev", 10, Tier.DEVELOPMENT, False),
        ("Test", "test", 20, Tier.TESTING, False),
        ("Ops", "ops", 30, Tier.PRODUCTION, True),
    ]
    return {
        slug: actions.create_environment(
            admin_user,
            name=name,
            slug=slug,
            position=position,
            tier=tier,
            protected=protected,
            endpoint_url=endpoint,
            allow_host_network=True,  # no bridge network here: replicas serve on the host
        )
        for name, slug, position, tier, protected in specs
    }


@pytest.fixture
def personas(environments, admin_user) -> dict[str, object]:
    """developer, tester, operator (through their groups' role presets), stranger (no
    role anywhere) and anonymous (None)."""
    User = get_user_model()
    for group_name, role in GROUP_ROLES.items():
        group = Group.objects.create(name=group_name)
        actions.grant_role_where_it_applies(
            admin_user, environments.values(), role=role, to_group=group
        )
    users = {}
    for persona in PERSONAS[:-1]:
        user = User.objects.create_user(persona, f"{persona}@example.com", f"{persona}-pass")
        if persona in PERSONA_GROUP:
            user.groups.add(Group.objects.get(name=PERSONA_GROUP[persona]))
        users[persona] = user
    users["anonymous"] = None
    return users


@pytest.fixture
def api_for(personas):
    """``api_for("developer")``: a DRF client authenticated as that persona."""

    def make(persona: str) -> APIClient:
        client = APIClient()
        user = personas[persona]
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters live in the cache: each test starts with none spent."""
    from django.core.cache import cache

    cache.clear()
    yield


# Where the suite's builds clone local repositories (pytest's tmp_path lies under the
# temporary directory), and /srv, where the definitions in the tests name them: as an
# administrator would list them in BERTH_BUILD_LOCAL_ROOTS.
BUILD_LOCAL_ROOTS = ["/srv", tempfile.gettempdir()]


@pytest.fixture(autouse=True)
def _build_local_roots(settings):
    settings.BUILD_LOCAL_ROOTS = BUILD_LOCAL_ROOTS

"""``Environment.objects.restrict`` (two subqueries on the permission tables) answers
exactly what the per-object check ``access.can`` (and ``access.require``) answers, for
every persona, environment and action of a seeded set; so do the bulk
``access.actions_by_environment``, guardian's own ``ObjectPermissionChecker`` and
``get_objects_for_user`` (object permissions only) and the role grants the permission
rows are derived from. The
restrictions built on it (services, deployments, registries, images, promotions, audit
events, pipelines) refuse whoever the environment restriction refuses."""

from __future__ import annotations

import itertools

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.contrib.contenttypes.models import ContentType
from guardian.core import ObjectPermissionChecker
from guardian.shortcuts import get_objects_for_user

from environments import access, actions
from environments.models import (
    Environment,
    EnvironmentGroupObjectPermission,
    EnvironmentUserObjectPermission,
    RoleGrant,
    Service,
)
from environments.roles import ACTIONS, DEPLOY, LOGS, MANAGE, PROMOTE, VIEW, Role, Tier
from portal.core import audit
from portal.core.errors import Forbidden, NotFound
from portal.models import AuditEvent
from registry.models import Image, Promotion, Registry, Repository

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(environments, personas, admin_user) -> dict:
    """Dev, Test, Ops (the teams' presets through their groups) and Staging, plus
    personas that exercise every rule: direct grants, grants through two groups at once,
    custom action sets, inactive users (one of them a superuser), global permissions that
    must not count, and stray permission rows of another content type."""
    User = get_user_model()
    staging = actions.create_environment(
        admin_user,
        name="Staging",
        slug="staging",
        position=25,
        tier=Tier.TESTING,
        endpoint_url="unix:///nonexistent/docker.sock",
    )
    everything = [*environments.values(), staging]
    users = {name: user for name, user in personas.items() if user is not None}

    def user(name: str, **flags):
        users[name] = User.objects.create_user(name, password="x", **flags)
        return users[name]

    # Granted directly: a custom set in Test, a preset in Staging.
    direct = user("direct")
    actions.grant_role(
        admin_user, environments["test"], role=Role.CUSTOM, to_user=direct, actions=[VIEW, LOGS]
    )
    actions.grant_role(admin_user, staging, role=Role.OPERATOR, to_user=direct)
    # Two groups and a direct grant whose actions add up in Dev; a group only in Ops.
    both = user("both")
    both.groups.add(Group.objects.get(name="Developers"), Group.objects.get(name="Testers"))
    actions.grant_role(admin_user, environments["dev"], role=Role.ADMIN, to_user=both)
    night = Group.objects.create(name="Night shift")
    actions.grant_role(
        admin_user, environments["ops"], role=Role.CUSTOM, to_group=night, actions=[VIEW, LOGS]
    )
    user("night").groups.add(night)
    # Inactive: a user who keeps their grants, and a superuser.
    gone = user("gone", is_active=False)
    gone.groups.add(Group.objects.get(name="Operators"))
    actions.grant_role(admin_user, staging, role=Role.ADMIN, to_user=gone)
    users["gone-root"] = User.objects.create_superuser("gone-root", password="x", is_active=False)
    users["root"] = admin_user
    # Global (model-level) permissions open nothing: only object permissions count.
    globally = user("global", is_staff=True)
    globally.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="environments", codename__in=ACTIONS)
    )
    # Rows naming a permission of another content type, with an action's codename: the
    # permission of a service called "deploy_to_environment" is not the environment's.
    stray = user("stray")
    stray_group = Group.objects.create(name="Stray")
    stray.groups.add(stray_group)
    # guardian refuses to save such a row; bulk_create (a data migration, a restore)
    # does not, so both paths must ignore it rather than rely on it never existing.
    service_type = ContentType.objects.get_for_model(Service)
    foreign = [
        Permission.objects.create(codename=a, name=f"service {a}", content_type=service_type)
        for a in ACTIONS
    ]
    EnvironmentUserObjectPermission.objects.bulk_create(
        EnvironmentUserObjectPermission(
            user=stray, permission=p, content_object=environments["ops"]
        )
        for p in foreign
    )
    EnvironmentGroupObjectPermission.objects.bulk_create(
        EnvironmentGroupObjectPermission(
            group=stray_group, permission=p, content_object=environments["dev"]
        )
        for p in foreign
    )
    return {"users": users, "environments": everything}


def _expected_from_grants(user, environment) -> set[str]:
    """What the role grants say: the union of the user's own grant and their groups'."""
    if not user.is_active:
        return set()
    if user.is_superuser:
        return set(ACTIONS)
    grants = RoleGrant.objects.filter(environment=environment).filter(
        user=user
    ) | RoleGrant.objects.filter(environment=environment, group__user=user)
    return {action for grant in grants for action in grant.actions}


def test_restrict_answers_exactly_what_can_answers(seeded):
    users, environments = seeded["users"], seeded["environments"]
    differences = []
    for (name, user), action in itertools.product(users.items(), ACTIONS):
        restricted = set(Environment.objects.restrict(user, action).values_list("pk", flat=True))
        bulk = access.actions_by_environment(user, environments)
        if user.is_active and not user.is_superuser:
            guardian = set(
                # The bare codename with ``klass``: "environments.<action>" is ambiguous
                # here, where a service permission has the same codename.
                get_objects_for_user(
                    user, action, klass=Environment, accept_global_perms=False
                ).values_list("pk", flat=True)
            )
        for environment in environments:
            answers = {
                "restrict": environment.pk in restricted,
                "can": access.can(user, environment, action),
                "actions_by_environment": action in bulk[environment.pk],
                "role grants": action in _expected_from_grants(user, environment),
            }
            if user.is_active and not user.is_superuser:
                answers["guardian"] = environment.pk in guardian
                answers["guardian checker"] = ObjectPermissionChecker(user).has_perm(
                    action, environment
                )
            answers["require"] = _passes_require(user, environment, action)
            if len(set(answers.values())) != 1:
                differences.append((name, environment.slug, action, answers))
    assert not differences, differences


def _passes_require(user, environment, action) -> bool:
    """``access.require`` lets ``action`` through; its 404 and 403 mean no, and a 403
    only where the environment is visible (a hidden one is missing, not forbidden)."""
    try:
        access.require(user, environment, action)
    except NotFound:
        return False
    except Forbidden:
        assert access.can(user, environment, VIEW), (user, environment, action)
        return False
    return True


def test_the_seeded_set_covers_every_rule(seeded):
    """The comparison above means something only if the personas differ as intended."""
    users, environments = seeded["users"], {e.slug: e for e in seeded["environments"]}

    def held(name, slug):
        return set(access.allowed_actions(users[name], environments[slug]))

    assert held("developer", "dev") == {VIEW, LOGS, DEPLOY} and held("developer", "ops") == set()
    assert held("direct", "test") == {VIEW, LOGS} and held("direct", "staging") == {VIEW}
    assert held("both", "dev") == set(ACTIONS)  # the direct Admin grant over two groups
    assert held("both", "test") == {VIEW, LOGS, DEPLOY, PROMOTE}  # Developers ∪ Testers
    assert held("night", "ops") == {VIEW, LOGS} and held("night", "dev") == set()
    assert held("operator", "ops") == {VIEW, LOGS, DEPLOY, MANAGE}
    for name in ("gone", "gone-root", "global", "stray", "stranger"):
        assert all(held(name, slug) == set() for slug in environments), name
    assert all(held("root", slug) == set(ACTIONS) for slug in environments)
    # The inactive user still has rows: it is the flag that closes everything.
    assert EnvironmentUserObjectPermission.objects.filter(user=users["gone"]).exists()


@pytest.mark.parametrize("nobody", [None, AnonymousUser()])
def test_nobody_gets_any_environment(seeded, nobody):
    for action in ACTIONS:
        assert not Environment.objects.restrict(nobody, action).exists()


def test_restrictions_built_on_environments_refuse_inactive_users_even_superusers(
    seeded, admin_user
):
    environments = {e.slug: e for e in seeded["environments"]}
    registry = Registry.objects.create(name="r", url="http://127.0.0.1:5999")
    repository = Repository.objects.create(registry=registry, name="team/app")
    Image.objects.create(repository=repository, digest="sha256:" + "a" * 64)
    Service.objects.create(name="app", registry=registry, repository="team/app")
    for environment in environments.values():
        environment.registry = registry
        environment.save(update_fields=["registry"])
    Promotion.objects.create(
        digest="sha256:" + "a" * 64,
        source_environment=environments["test"],
        target_environment=environments["ops"],
        source_registry=registry,
        source_repository="team/app",
        target_registry=registry,
        target_repository="team/app",
    )
    for name in ("gone", "gone-root"):
        user = seeded["users"][name]
        audit.record(user, "token.create", user)  # their own event outside any environment
        for model in (Service, Registry, Repository, Image, Promotion):
            assert not model.objects.restrict(user).exists(), (name, model.__name__)
        assert not AuditEvent.objects.restrict(user, access.visible_environments(user)).exists()
        assert not access.audit_events(user).exists(), name
    # The same objects are there for an active superuser.
    for model in (Service, Registry, Repository, Image, Promotion):
        assert model.objects.restrict(admin_user).exists(), model.__name__

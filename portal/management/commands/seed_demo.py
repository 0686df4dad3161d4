"""Create the demo: Dev, Test and Ops on the local engine, the local registry, and the
users dev, qa, ops and admin with their roles. Running it again changes nothing."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from environments import actions, engine
from environments.models import Environment
from environments.roles import Role, Tier
from registry.models import Registry

ENVIRONMENTS = [
    {
        "name": "Dev",
        "slug": "dev",
        "position": 10,
        "tier": Tier.DEVELOPMENT,
        "colour": "#1e9e5a",
        "description": "Where developers deploy every build.",
        "protected": False,
    },
    {
        "name": "Test",
        "slug": "test",
        "position": 20,
        "tier": Tier.TESTING,
        "colour": "#c27c0e",
        "description": "Where testers verify a digest and sign it off.",
        "protected": False,
        "promotion_tag": "in-test",
    },
    {
        "name": "Ops",
        "slug": "ops",
        "position": 30,
        "tier": Tier.PRODUCTION,
        "colour": "#d64545",
        "description": "Production: only digests signed off in Test.",
        "protected": True,
        "promotion_tag": "qa-passed",
        "require_version": True,
        "swarm": True,
    },
]
# username -> (password, group, superuser)
USERS = {
    "dev": ("berth-dev", "Developers", False),
    "qa": ("berth-qa", "Testers", False),
    "ops": ("berth-ops", "Operators", False),
    "admin": ("berth-admin", None, True),
}
GROUP_ROLES = {"Developers": Role.DEVELOPER, "Testers": Role.TESTER, "Operators": Role.OPERATOR}


class Command(BaseCommand):
    help = "Create the demo environments, registry, users and roles (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        logins = []
        for username, (password, group_name, superuser) in USERS.items():
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "is_superuser": superuser,
                    "is_staff": superuser,
                    "email": f"{username}@example.com",
                },
            )
            if created:
                user.set_password(password)
                user.save()
            if group_name:
                user.groups.add(Group.objects.get_or_create(name=group_name)[0])
            shown = password if user.check_password(password) else "(changed since the first seed)"
            logins.append((username, shown, group_name or "superuser"))
        admin = User.objects.get(username="admin")

        registry, created = Registry.objects.get_or_create(
            name="local", defaults={"url": settings.DEMO_REGISTRY_URL, "verify_tls": False}
        )
        if created:
            self.stdout.write(f"Registered registry {registry.name} at {registry.url}.")

        swarm_ready = self._engine_is_swarm_manager()
        for spec in ENVIRONMENTS:
            spec = dict(spec)
            wants_swarm = spec.pop("swarm", False)
            environment = Environment.objects.filter(slug=spec["slug"]).first()
            if environment is None:
                mode = (
                    Environment.Mode.SWARM
                    if wants_swarm and swarm_ready
                    else Environment.Mode.STANDALONE
                )
                # The demo's deploy policy: host networking (the engine has no bridge
                # network), no host directories.
                environment = actions.create_environment(
                    admin, endpoint_url=settings.DOCKER_HOST, mode=mode, registry=registry,
                    allow_host_network=True, **spec,
                )  # fmt: skip
                self.stdout.write(
                    f"Created environment {environment.name} ({environment.get_mode_display()})."
                )

        demo_environments = Environment.objects.filter(slug__in=[e["slug"] for e in ENVIRONMENTS])
        for group_name, role in GROUP_ROLES.items():
            actions.grant_role_where_it_applies(
                admin, demo_environments, role=role, to_group=Group.objects.get(name=group_name)
            )

        self.stdout.write(self.style.SUCCESS("\nDemo logins:"))
        for username, password, role in logins:
            self.stdout.write(f"  {username:<6} {password:<28} {role}")

    def _engine_is_swarm_manager(self) -> bool:
        probe = engine.probe(Environment(name="local engine", endpoint_url=settings.DOCKER_HOST))
        if not probe.reachable:
            self.stderr.write(self.style.WARNING(f"{probe.error} Environments are created anyway."))
        return probe.swarm_active and probe.swarm_manager

"""Create the demo: Dev, Test and Ops on the local engine, the local registry, and the
users dev, qa, ops and admin with their roles. Running it again changes nothing."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand
from django.db import transaction

from environments import actions, engine
from environments.models import Environment, Service
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
        "entry_hosts": ["*.dev.example.com"],
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
        "entry_hosts": ["*.test.example.com"],
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
        # Production's public ports and names: no other environment may take them first.
        "entry_ports": "80, 443",
        "entry_hosts": ["*.example.com"],
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
# A service to deploy right away: the stack's demo/app image serving one page with
# busybox httpd, two replicas behind an entry point in Dev and Test, one in Ops.
DEMO_SERVICE = "hello"
HELLO_COMMAND = [
    "sh",
    "-c",
    "busybox mkdir -p /www && echo ok > /www/health"
    ' && echo "Hello from Berth: the replica on port $PORT" > /www/index.html'
    " && exec httpd -f -p 127.0.0.1:$PORT -h /www",
]
# Replica base ports: each environment's blue and green (base + 100) ports clear of the
# others' and of the entry points.
HELLO_PORTS = {"dev": (18001, 18080), "test": (18201, 18180), "ops": (18401, None)}


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

        self._seed_hello(admin, registry)

        self.stdout.write(self.style.SUCCESS("\nDemo logins:"))
        for username, password, role in logins:
            self.stdout.write(f"  {username:<6} {password:<28} {role}")

    def _seed_hello(self, admin, registry) -> None:
        """The demo service and its configs, once (a service deleted later stays gone
        only until the next seed, which is what a demo wants)."""
        if Service.objects.filter(name=DEMO_SERVICE).exists():
            return
        service = actions.create_service(
            admin, name=DEMO_SERVICE, registry=registry, repository="demo/app",
            description="The demo: one page served by busybox httpd. Deploy demo/app:latest.",
        )  # fmt: skip
        for slug, (port, entry) in HELLO_PORTS.items():
            environment = Environment.objects.filter(slug=slug).first()
            if environment is None:
                continue
            document = {
                "replicas": 1 if entry is None else 2,
                "command": HELLO_COMMAND,
                "port": port,
                "health_check": {"http_path": "/health", "interval": 1, "retries": 3},
                "stop_grace_period": 1,  # busybox httpd as PID 1 ignores SIGTERM
                "strategy": {"type": "rolling"},
            }
            if entry:
                document["entry_points"] = [{"port": entry}]
            try:
                actions.save_config(admin, service, environment, document, comment="demo")
            except ValidationError as refused:
                if not entry or any(not f.startswith("entry_points") for f in refused.message_dict):
                    raise
                # The port is taken on this machine (another program, an old proxy): the
                # demo goes on without it; the service page adds an entry point later.
                problems = " ".join(m for ms in refused.message_dict.values() for m in ms)
                self.stderr.write(self.style.WARNING(
                    f"{DEMO_SERVICE} in {environment.name} has no entry point: {problems}"
                ))  # fmt: skip
                del document["entry_points"]
                actions.save_config(admin, service, environment, document, comment="demo")
        self.stdout.write(
            f"Created service {DEMO_SERVICE} (demo/app): entry points http://127.0.0.1:18080/ "
            "in Dev and http://127.0.0.1:18180/ in Test once deployed."
        )

    def _engine_is_swarm_manager(self) -> bool:
        probe = engine.probe(Environment(name="local engine", endpoint_url=settings.DOCKER_HOST))
        if not probe.reachable:
            self.stderr.write(self.style.WARNING(f"{probe.error} Environments are created anyway."))
        return probe.swarm_active and probe.swarm_manager

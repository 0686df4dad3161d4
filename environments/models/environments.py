"""Environments, their Docker endpoints, and who may do what in them."""

from __future__ import annotations

import bisect
import functools

from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import connections, models
from django.db.models.expressions import RawSQL
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from environments import entry_rules
from environments.engine.endpoint import validate_endpoint_url
from environments.roles import ACTIONS, Role, Tier
from portal.core.crypto import EncryptedTextField
from registry.client import validate_tag

__all__ = [
    "Environment",
    "EnvironmentGroupObjectPermission",
    "EnvironmentUserObjectPermission",
    "RoleGrant",
]

colour_validator = RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a hex colour such as #2f80ed.")


@functools.cache
def _permission_sql(columns: str, condition: str) -> str:
    """SQL of ``columns`` of the environment object permissions that user ``%s`` holds
    directly and, after ``UNION ALL``, that user ``%s`` holds through one of their
    groups, each side filtered by ``condition`` (its parameters follow each user's).
    Aliases: ``o`` the permission row, ``p`` its permission. Only permissions of the
    environment content type count (a service permission may share the codename)."""
    users, groups = EnvironmentUserObjectPermission, EnvironmentGroupObjectPermission
    permission = users._meta.get_field("permission").related_model
    content_type = permission._meta.get_field("content_type").related_model
    membership = Group.user_set.through._meta.db_table
    kind = (
        f"JOIN {permission._meta.db_table} p ON p.id = o.permission_id "
        f"JOIN {content_type._meta.db_table} c ON c.id = p.content_type_id "
        "AND c.app_label = 'environments' AND c.model = 'environment'"
    )
    # Only table names from the models go into the text; values are parameters.
    return (
        f"SELECT {columns} FROM {users._meta.db_table} o {kind} "  # noqa: S608
        f"WHERE o.user_id = %s AND {condition} "
        f"UNION ALL SELECT {columns} FROM {groups._meta.db_table} o {kind} "
        f"JOIN {membership} m ON m.group_id = o.group_id "
        f"WHERE m.user_id = %s AND {condition}"
    )


class EnvironmentQuerySet(models.QuerySet):
    def restrict(self, user, action: str = "view_environment") -> EnvironmentQuerySet:
        """The environments on which ``user`` may perform ``action``.

        The one access path for environments: views, viewsets, consumers and tasks all
        start here. Only object permissions count, the user's own and their groups' (what
        guardian's ``get_objects_for_user(..., accept_global_perms=False)`` answers), so a
        stray global permission never opens every environment; superusers see all.

        Written as one SQL subquery (the user's rows and their groups' rows of the two
        direct-foreign-key permission tables, ``UNION ALL``) rather than through
        ``get_objects_for_user`` or ORM subqueries: the same rows, but Django built those
        anew on every call, copying and relabelling each subquery, which cost three
        times what the database takes to answer (every page and API call restricts,
        some several times). ``tests/test_restrict_equivalence.py`` holds it to
        guardian's answers for every persona, environment and action.
        """
        if action not in ACTIONS:
            raise ValueError(f"Unknown environment action {action!r}.")
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        sql = _permission_sql("o.content_object_id", "p.codename = %s")
        permitted = RawSQL(sql, (user.pk, action, user.pk, action))  # noqa: S611
        return self.filter(pk__in=permitted)

    def held_permissions(self, user, environment_ids) -> list[tuple[int, str]]:
        """``(environment id, action codename)`` of every object permission ``user``
        holds on these environments, their own and their groups' (repeats possible), in
        one query. The rows behind :meth:`restrict`, for one user and a few environments
        rather than for one action: what ``access.actions_by_environment`` reads."""
        ids = list(environment_ids)
        if not ids:
            return []
        sql = _permission_sql(
            "o.content_object_id, p.codename",
            f"o.content_object_id IN ({', '.join(['%s'] * len(ids))})",
        )
        with connections[self.db].cursor() as cursor:
            cursor.execute(sql, (user.pk, *ids, user.pk, *ids))
            return cursor.fetchall()

    def next_along_path(self, environments) -> dict[int, Environment | None]:
        """``{id: the environment after it on the promotion path}`` for each of
        ``environments``, as :meth:`Environment.next_environment` says, in two queries
        whatever their number."""
        path = list(Environment.objects.order_by("position", "pk").values_list("pk", "position"))
        positions = [position for _, position in path]
        wanted = {}
        for environment in environments:
            index = bisect.bisect_right(positions, environment.position)
            wanted[environment.pk] = path[index][0] if index < len(path) else None
        found = Environment.objects.select_related("registry").in_bulk(
            {pk for pk in wanted.values() if pk is not None}
        )
        return {pk: found.get(following) for pk, following in wanted.items()}


class Environment(models.Model):
    """A place where containers run (Dev, Test, Ops, ...), backed by one Docker endpoint.

    ``position`` orders environments along the promotion path; ``protected`` asks for an
    explicit confirmation before deploying; ``tier`` decides what the role presets grant.
    """

    class Mode(models.TextChoices):
        STANDALONE = "standalone", "Standalone Docker Engine"
        SWARM = "swarm", "Docker Swarm manager"

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=50, unique=True)
    description = models.TextField(blank=True)
    colour = models.CharField(max_length=7, default="#2f80ed", validators=[colour_validator])
    position = models.PositiveIntegerField(
        default=0, help_text="Order along the promotion path, lowest first."
    )
    tier = models.CharField(max_length=20, choices=Tier.choices, default=Tier.DEVELOPMENT)
    protected = models.BooleanField(
        default=False, help_text="Deploying here needs an explicit confirmation."
    )

    endpoint_url = models.CharField(
        max_length=255,
        help_text="Docker Engine URL: unix:///path/to/docker.sock or tcp://host:2376.",
    )
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.STANDALONE)
    tls_ca_cert = models.TextField(blank=True, help_text="PEM CA certificate (tcp:// only).")
    tls_client_cert = models.TextField(blank=True, help_text="PEM client certificate.")
    tls_client_key = EncryptedTextField(blank=True, help_text="PEM client key, stored encrypted.")
    only_labelled_containers = models.BooleanField(
        default=True,
        help_text="Show only containers labelled berth.environment=<slug>: needed when "
        "several environments share one engine.",
    )

    registry = models.ForeignKey(
        "registry.Registry",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="environments",
        help_text="Where images promoted into this environment live.",
    )
    repository_template = models.CharField(
        max_length=255,
        default="{repository}",
        help_text="Repository for promoted images; {repository} is the source repository, "
        "e.g. prod/{repository} to promote into another repository.",
    )
    promotion_tag = models.CharField(
        max_length=128,
        blank=True,
        help_text="Moving tag written on promotion into this environment, e.g. qa-passed.",
    )
    require_version = models.BooleanField(
        default=False, help_text="Promotion into this environment needs a version tag (e.g. 1.4.2)."
    )

    allow_host_network = models.BooleanField(
        default=False,
        help_text="Deploy policy: services may use the host's network (and bind its ports).",
    )
    allowed_bind_mounts = models.JSONField(
        default=list,
        blank=True,
        help_text="Deploy policy: host path prefixes services may bind-mount, e.g. "
        '["/srv/data"]. Empty: named volumes only. Docker sockets and Berth\'s own files '
        "are never allowed.",
    )

    entry_ports = models.CharField(
        max_length=400,
        blank=True,
        help_text="Entry-point policy: ports reserved for this environment's entry points, "
        "e.g. 80, 443, 18400-18499. No other environment may use them, and when set this "
        "environment's entry points use only these. Empty: any port nobody reserves.",
    )
    entry_hosts = models.JSONField(
        default=list,
        blank=True,
        help_text="Entry-point policy: host names reserved for this environment's entry "
        'points, e.g. ["shop.example.com", "*.example.com"]. A name belongs to the '
        "environment whose entry names it most closely; when set, this environment's "
        "host names must match one. Empty: any host name nobody reserves.",
    )

    allow_exec = models.BooleanField(
        null=True,
        blank=True,
        default=None,
        help_text="Deployers may run commands in containers (the Console tab, berth exec). "
        "Empty: allowed unless the environment is protected.",
    )

    endpoint_state = models.JSONField(default=dict, blank=True, editable=False)
    endpoint_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EnvironmentQuerySet.as_manager()

    # What people may set (API, admin, domain functions); everything else Berth keeps.
    EDITABLE_FIELDS = (
        "name",
        "slug",
        "description",
        "colour",
        "position",
        "tier",
        "protected",
        "endpoint_url",
        "mode",
        "tls_ca_cert",
        "tls_client_cert",
        "tls_client_key",
        "only_labelled_containers",
        "registry",
        "repository_template",
        "promotion_tag",
        "require_version",
        "allow_host_network",
        "allowed_bind_mounts",
        "entry_ports",
        "entry_hosts",
        "allow_exec",
    )
    # What an environment manager may change; every other field decides isolation
    # (where containers run, what reaches Ops, what a deployer may ask of the host) and
    # is for administrators only.
    MANAGER_FIELDS = ("name", "description", "colour")

    class Meta:
        ordering = ["position", "name"]
        permissions = [
            ("view_logs", "Read container and service logs"),
            ("deploy_to_environment", "Deploy and operate containers"),
            ("promote_from_environment", "Sign off and promote images to the next environment"),
            ("manage_environment", "Change settings and grant roles"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        self.name = " ".join(self.name.split())
        twin = Environment.objects.filter(name__iexact=self.name).exclude(pk=self.pk)
        if self.name and twin.exists():
            # "ops" beside "Ops" would pass for production in every list.
            raise ValidationError({"name": "Another environment has this name."})
        try:
            self.endpoint_url = validate_endpoint_url(self.endpoint_url)
        except ValueError as exc:
            raise ValidationError({"endpoint_url": str(exc)}) from None
        has_tls = any([self.tls_ca_cert, self.tls_client_cert, self.tls_client_key])
        if has_tls and not self.endpoint_url.startswith("tcp://"):
            raise ValidationError(
                {"tls_ca_cert": "TLS certificates apply to tcp:// endpoints only."}
            )
        if bool(self.tls_client_cert) != bool(self.tls_client_key):
            raise ValidationError(
                {"tls_client_key": "Give both the client certificate and its key, or neither."}
            )
        if self.promotion_tag:
            try:
                validate_tag(self.promotion_tag)
            except ValueError as exc:
                raise ValidationError({"promotion_tag": str(exc)}) from None
        if "{repository}" not in self.repository_template and "/" not in self.repository_template:
            raise ValidationError(
                {"repository_template": "Use {repository}, or a fixed path such as team/app."}
            )
        mounts = self.allowed_bind_mounts
        if not isinstance(mounts, list) or not all(
            isinstance(p, str) and p.startswith("/") and ".." not in p.split("/") for p in mounts
        ):
            raise ValidationError(
                {"allowed_bind_mounts": 'A list of absolute host paths, e.g. ["/srv/data"].'}
            )
        for field in ("tls_ca_cert", "tls_client_cert", "tls_client_key"):
            value = getattr(self, field)
            if value and "-----BEGIN" not in value:
                raise ValidationError({field: "Paste the PEM text, starting with -----BEGIN."})
        self._clean_entry_policy()

    def _clean_entry_policy(self) -> None:
        """Parse the reserved entry ports and host names (stored in their plain form),
        and refuse a change of them that another environment's reservation meets or
        that would leave an entry point already claimed on the wrong side, cleared
        reservations included (a name then falls to the next closest pattern). Only a
        change is checked: what was accepted before does not stop an edit of the name."""
        EntryPoint = apps.get_model("environments", "EntryPoint")  # noqa: N806 - a model

        try:
            ports = entry_rules.parse_ports(self.entry_ports)
        except ValueError as exc:
            raise ValidationError({"entry_ports": str(exc)}) from None
        try:
            hosts = entry_rules.parse_host_patterns(self.entry_hosts)
        except ValueError as exc:
            raise ValidationError({"entry_hosts": str(exc)}) from None
        self.entry_ports = entry_rules.ports_text(ports)
        self.entry_hosts = hosts
        saved = Environment.objects.filter(pk=self.pk).values_list("entry_ports", "entry_hosts")
        old_ports, old_hosts = saved.first() or ("", [])
        ports_changed = ports != entry_rules.parse_ports(old_ports)
        hosts_changed = hosts != (old_hosts or [])
        if not (ports_changed or hosts_changed):
            return
        others = list(
            Environment.objects.exclude(pk=self.pk).only("name", "entry_ports", "entry_hosts")
        )
        for other in others:
            shared = entry_rules.overlap(ports, entry_rules.parse_ports(other.entry_ports))
            if shared and ports_changed:
                what = "Port " if shared[0] == shared[1] else ""
                raise ValidationError({"entry_ports": (
                    f"{what}{entry_rules.port_range(*shared)} is reserved for {other.name} already."
                )})  # fmt: skip
            if hosts_changed and (same := set(hosts) & set(other.entry_hosts or [])):
                raise ValidationError(
                    {"entry_hosts": f"{sorted(same)[0]} is reserved for {other.name} already."}
                )
        this = object()  # this environment, saved or not
        held = {o.pk: o.entry_hosts or [] for o in others}
        before = [*held.items(), (this, old_hosts or [])]
        after = [*held.items(), (this, hosts)]

        def in_place(entry, reservations, own) -> bool:
            """Whether the entry point's host name is where the rules want it: reserved by
            its environment, or by nobody when its environment reserves none."""
            owner = entry_rules.host_owner(entry.host, reservations)
            mine = this if entry.environment_id == self.pk else entry.environment_id
            return owner == mine or (owner is None and not own)  # ids: ==, never is

        for entry in EntryPoint.objects.select_related("service", "environment"):
            mine = entry.environment_id == self.pk
            where = f"{entry.service} in {entry.environment.name}"
            if ports_changed and ports and entry_rules.in_ranges(entry.port, ports) != mine:
                raise ValidationError({"entry_ports": f"Port {entry.port} is an entry point of {where}: " + (
                    "keep it among these ports, or move it first." if mine
                    else "move it first, or reserve other ports."
                )})  # fmt: skip
            if not (hosts_changed and entry.host):
                continue
            own_before = (old_hosts or []) if mine else held.get(entry.environment_id, [])
            own_after = hosts if mine else own_before
            if in_place(entry, before, own_before) and not in_place(entry, after, own_after):
                raise ValidationError({"entry_hosts": f"{entry.host} is an entry point of {where}: " + (
                    "keep a name that matches it, or move it first." if mine
                    else "move it first, or reserve other names."
                )})  # fmt: skip

    @property
    def exec_allowed(self) -> bool:
        """Whether deployers may exec into containers here: ``allow_exec`` when set,
        else only when the environment is not protected."""
        return self.allow_exec if self.allow_exec is not None else not self.protected

    @property
    def uses_tls(self) -> bool:
        return bool(self.tls_ca_cert or self.tls_client_cert)

    def next_environment(self) -> Environment | None:
        """The environment after this one on the promotion path, with its registry."""
        return (
            Environment.objects.select_related("registry")
            .filter(position__gt=self.position)
            .order_by("position", "pk")
            .first()
        )


class EnvironmentUserObjectPermission(UserObjectPermissionBase):
    """Direct-foreign-key object permissions of users (no generic text primary keys)."""

    content_object = models.ForeignKey(Environment, on_delete=models.CASCADE)


class EnvironmentGroupObjectPermission(GroupObjectPermissionBase):
    """Direct-foreign-key object permissions of groups."""

    content_object = models.ForeignKey(Environment, on_delete=models.CASCADE)


class RoleGrant(models.Model):
    """A role given to one user or one group in one environment.

    The grant is what people manage; the guardian permission rows are derived from all
    grants of a principal in an environment (see :func:`environments.actions.grant_role`).
    """

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="role_grants",
    )
    group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.CASCADE, related_name="role_grants"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    actions = models.JSONField(default=list, help_text="The actions this grant gives.")
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["environment__position", "group__name", "user__username"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, group__isnull=True)
                    | models.Q(user__isnull=True, group__isnull=False)
                ),
                name="rolegrant_one_principal",
            ),
            models.UniqueConstraint(
                fields=["environment", "user"],
                condition=models.Q(user__isnull=False),
                name="rolegrant_unique_user",
            ),
            models.UniqueConstraint(
                fields=["environment", "group"],
                condition=models.Q(group__isnull=False),
                name="rolegrant_unique_group",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()} for {self.principal_name} in {self.environment}"

    @property
    def principal(self):
        return self.user if self.user_id else self.group

    @property
    def principal_name(self) -> str:
        return f"user {self.user.get_username()}" if self.user_id else f"group {self.group.name}"

"""State changes of environments and their grants.

Verb-first functions that check permission through :mod:`environments.access`, run in
a transaction, write the audit log, and send their events after commit. The browser,
the REST API, pipelines and tests all call these.
"""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, get_group_perms, get_user_perms, remove_perm

from environments import access, engine
from environments.deploying import policy
from environments.models import Environment, RoleGrant
from environments.roles import ACTIONS, MANAGE, Role, preset_actions
from portal.core import audit
from portal.core.errors import Forbidden
from portal.core.events import broadcast_on_commit, notify_access_changed, status_group
from portal.core.tasks import dispatch_on_commit

__all__ = [
    "create_environment",
    "delete_environment",
    "grant_role",
    "grant_role_where_it_applies",
    "refresh_endpoint_state",
    "request_probe",
    "revoke_grant",
    "update_environment",
]

_SECRET_FIELDS = {"tls_client_key"}


def _audit_fields(values: dict) -> dict:
    return {k: ("***" if k in _SECRET_FIELDS and v else v) for k, v in values.items()}


RESERVATIONS = ("entry_ports", "entry_hosts")


def _lock_reservations() -> None:
    """Hold every environment's row until the transaction ends, in one order (by id), so
    that reservations change one at a time: each sees the others' latest, and no two
    environments can reserve the same port at once. A config saved meanwhile waits too
    (:func:`environments.actions.services.save_config` holds its environment's row), so
    an entry point and a reservation never both pass each other's check."""
    list(Environment.objects.select_for_update().order_by("pk").values_list("pk", flat=True))


def _is_admin(user, verb: str) -> bool:
    """Superusers, and staff given the global ``<verb>_environment`` permission."""
    return user.is_superuser or user.has_perm(f"environments.{verb}_environment")


@transaction.atomic
def create_environment(user, **fields) -> Environment:
    """Create an environment; needs the global ``add_environment`` permission (admins)."""
    if not _is_admin(user, "add"):
        raise PermissionDenied("Only administrators can create environments.")
    unknown = set(fields) - set(Environment.EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    if any(fields.get(key) for key in RESERVATIONS):
        _lock_reservations()
    environment = Environment(**fields)
    environment.full_clean()
    policy.check_reservation_unbound(user, environment.entry_ports)
    environment.save()
    audit.record(
        user,
        "environment.create",
        environment,
        environment=environment,
        details=_audit_fields(fields),
    )
    return environment


@transaction.atomic
def update_environment(user, environment: Environment, **changes) -> Environment:
    """Change an environment's settings; needs ``manage_environment`` on it."""
    access.require(user, environment, MANAGE)
    unknown = set(changes) - set(Environment.EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    if any(key in changes for key in RESERVATIONS):
        _lock_reservations()  # this row among them, in the same order as everyone
    environment = Environment.objects.select_for_update().get(pk=environment.pk)
    before = {k: getattr(environment, k) for k in changes}
    isolating = sorted(
        k for k in changes if k not in Environment.MANAGER_FIELDS and changes[k] != before[k]
    )
    if isolating and not _is_admin(user, "change"):
        raise Forbidden(
            f"Only administrators may change {', '.join(isolating)} of {environment.name}: "
            "these decide where its containers run, what may reach it and what a deployer "
            "may ask of the host. Managers change the name, description and colour."
        )
    for key, value in changes.items():
        setattr(environment, key, value)
    environment.full_clean()
    if "entry_ports" in changes:
        policy.check_reservation_unbound(user, environment.entry_ports, before["entry_ports"])
    environment.save()
    changed = {
        k: [before[k], getattr(environment, k)]
        for k in changes
        if before[k] != getattr(environment, k)
    }
    if changed:
        audit.record(
            user,
            "environment.update",
            environment,
            environment=environment,
            details={"changed": _audit_fields(changed)},
        )
    return environment


@transaction.atomic
def delete_environment(user, environment: Environment) -> None:
    """Delete an environment and its grants; needs the global ``delete_environment``."""
    access.require(user, environment, MANAGE)
    if not _is_admin(user, "delete"):
        raise PermissionDenied("Only administrators can delete environments.")
    audit.record(
        user,
        "environment.delete",
        environment,
        environment=None,
        details={"name": environment.name, "slug": environment.slug},
    )
    grants = RoleGrant.objects.filter(environment=environment).select_related("user", "group")
    users = {pk for grant in grants for pk in _members(grant.user, grant.group)}
    environment.delete()
    notify_access_changed(users)


def _members(user, group) -> list[int]:
    """The users a grant to ``user`` or ``group`` reaches."""
    if user is not None:
        return [user.pk]
    return list(group.user_set.values_list("pk", flat=True))


def _sync_permissions(environment: Environment, *, user=None, group=None) -> None:
    """Make the guardian rows of one principal equal the union of its grants here."""
    grants = RoleGrant.objects.filter(environment=environment, user=user, group=group)
    wanted = {action for grant in grants for action in grant.actions}
    principal = user or group
    current = set(
        get_user_perms(user, environment) if user else get_group_perms(group, environment)
    ) & set(ACTIONS)
    for action in wanted - current:
        assign_perm(action, principal, environment)
    for action in current - wanted:
        remove_perm(action, principal, environment)


@transaction.atomic
def grant_role(
    user,
    environment: Environment,
    *,
    role: str,
    to_user=None,
    to_group: Group | None = None,
    actions: list[str] | None = None,
) -> RoleGrant:
    """Give ``to_user`` or ``to_group`` a role in ``environment``, replacing an earlier one.

    Needs ``manage_environment``; someone who is not a superuser can only hand out
    actions they hold themselves, so managing never escalates.
    """
    access.require(user, environment, MANAGE)
    if (to_user is None) == (to_group is None):
        raise ValidationError("Grant the role to exactly one user or one group.")
    if role not in Role.values:
        raise ValidationError(
            {"role": f"Unknown role {role!r}: use one of {', '.join(Role.values)}."}
        )
    try:
        granted = preset_actions(role, environment.tier, actions)
    except ValueError as exc:
        raise ValidationError({"actions": str(exc)}) from None
    if not granted:
        raise ValidationError(
            {
                "role": f"The {Role(role).label} role gives nothing in a {environment.get_tier_display().lower()} "
                "environment; choose another role or a custom set of actions."
            }
        )
    missing = granted - access.allowed_actions(user, environment)
    if missing:
        raise PermissionDenied(
            f"You cannot grant actions you do not hold in {environment.name}: {', '.join(sorted(missing))}."
        )
    grant, _ = RoleGrant.objects.update_or_create(
        environment=environment,
        user=to_user,
        group=to_group,
        defaults={"role": role, "actions": sorted(granted), "granted_by": user},
    )
    _sync_permissions(environment, user=to_user, group=to_group)
    notify_access_changed(_members(to_user, to_group))
    audit.record(
        user,
        "role.grant",
        grant,
        environment=environment,
        details={"role": role, "actions": sorted(granted), "principal": grant.principal_name},
    )
    return grant


@transaction.atomic
def grant_role_where_it_applies(
    user, environments, *, role: str, to_group: Group
) -> list[RoleGrant]:
    """Grant a preset role to a team in each environment where the preset gives something
    and the team has no grant yet (what an admin does when setting up a team)."""
    granted = []
    for environment in environments:
        if not preset_actions(role, environment.tier):
            continue
        if RoleGrant.objects.filter(environment=environment, group=to_group).exists():
            continue
        granted.append(grant_role(user, environment, role=role, to_group=to_group))
    return granted


@transaction.atomic
def revoke_grant(user, grant: RoleGrant) -> None:
    """Remove a grant and the permissions only it gave; needs ``manage_environment``."""
    environment = grant.environment
    access.require(user, environment, MANAGE)
    principal = {"user": grant.user, "group": grant.group}
    audit.record(
        user,
        "role.revoke",
        grant,
        environment=environment,
        details={"role": grant.role, "principal": grant.principal_name},
    )
    grant.delete()
    _sync_permissions(environment, **principal)
    notify_access_changed(_members(principal["user"], principal["group"]))


def refresh_endpoint_state(environment: Environment) -> engine.EndpointState:
    """Probe the endpoint, store what was seen and push it to open dashboards.

    System housekeeping rather than a user's change, so it is not audited.
    """
    state = engine.probe(environment)
    Environment.objects.filter(pk=environment.pk).update(
        endpoint_state=state.as_dict(), endpoint_checked_at=timezone.now()
    )
    broadcast_on_commit(
        status_group(environment.pk),
        {"type": "endpoint.state", "environment": environment.pk, "state": state.as_dict()},
    )
    return state


PROBE_FRESH_FOR = 10  # seconds a stored probe result is shown without asking again


def request_probe(environment: Environment) -> dict:
    """The last known endpoint state, and a probe queued when it is older than a few
    seconds: pages and the API never wait on an engine to show it, and the new state
    arrives over ``/ws/environments/status/``."""
    checked = environment.endpoint_checked_at
    if checked is None or (timezone.now() - checked).total_seconds() > PROBE_FRESH_FOR:
        dispatch_on_commit("environments.tasks.probe_endpoint", environment.pk)
    return environment.endpoint_state

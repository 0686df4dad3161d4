"""The one permission path for environments and everything that lives in them.

HTML views, API viewsets, websocket consumers, tasks and domain functions all ask
here. Someone who cannot view an environment gets the same "not found" as for an
environment that does not exist, so probing reveals nothing; someone who can view
it but lacks the action gets "permission denied" with the action named.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed

from environments import engine
from environments.models import (
    Deployment,
    Environment,
    Service,
)
from environments.roles import ACTION_LABELS, ACTION_PHRASES, ACTIONS, VIEW
from portal.core.errors import Forbidden, NotFound
from portal.core.models import AuditEvent

__all__ = [
    "action_labels",
    "actions_by_environment",
    "allowed_actions",
    "audit_events",
    "can",
    "environments_with_actions",
    "get_deployment",
    "get_environment",
    "get_service",
    "locate_container",
    "require",
    "visible_environments",
]

CONTAINER_REFERENCE = engine.CONTAINER_REFERENCE


def can(user, environment: Environment, action: str) -> bool:
    """Whether ``user`` may perform ``action`` in ``environment``."""
    if action not in ACTIONS:
        raise ValueError(f"Unknown environment action {action!r}.")
    return action in allowed_actions(user, environment)


def require(user, environment: Environment, action: str) -> None:
    """Raise 404 when ``user`` cannot see ``environment``, 403 when it lacks ``action``."""
    if action not in ACTIONS:
        raise ValueError(f"Unknown environment action {action!r}.")
    held = allowed_actions(user, environment)  # one read for both checks
    if VIEW not in held:
        raise NotFound("No such environment.")
    if action not in held:
        raise Forbidden(
            f"You may not {ACTION_PHRASES[action]} in {environment.name}: "
            f"ask an environment manager for the '{action}' permission."
        )


def get_environment(user, action: str = VIEW, **lookup) -> Environment:
    """The environment matching ``lookup`` if ``user`` may perform ``action`` there."""
    try:
        environment = Environment.objects.get(**lookup)
    except (Environment.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such environment.") from None
    require(user, environment, action)
    return environment


def allowed_actions(user, environment: Environment) -> frozenset[str]:
    """All actions ``user`` has in ``environment``."""
    return actions_by_environment(user, [environment]).get(environment.pk, frozenset())


def actions_by_environment(user, environments) -> dict[int, frozenset[str]]:
    """Actions per environment id, with one permission query for the whole list.

    Only object permissions count, the user's own and their groups' (what guardian's
    ``ObjectPermissionChecker`` and ``get_objects_for_user(..., accept_global_perms=False)``
    answer, and ``Environment.objects.restrict`` too: ``tests/test_restrict_equivalence.py``);
    superusers hold every action, inactive and anonymous users none."""
    environments = list(environments)
    if user is None or not user.is_authenticated or not user.is_active:
        return {env.pk: frozenset() for env in environments}
    if user.is_superuser:
        return {env.pk: frozenset(ACTIONS) for env in environments}
    # What guardian's checker reads (the user's and their groups' object permissions),
    # as flat rows of one query: it builds a model instance per row, which costs more
    # than the query once there are hundreds of environments, and asks twice.
    held: dict[int, set[str]] = {env.pk: set() for env in environments}
    for pk, codename in Environment.objects.held_permissions(user, held):
        held[pk].add(codename)
    return {pk: frozenset(a for a in ACTIONS if a in actions) for pk, actions in held.items()}


def action_labels(actions) -> list[str]:
    """Human names of ``actions``, in the canonical order, for pages."""
    return [ACTION_LABELS[action] for action in ACTIONS if action in actions]


def visible_environments(user):
    """The environments ``user`` can view, along the promotion path."""
    return Environment.objects.restrict(user, VIEW)


def audit_events(user):
    """The audit events ``user`` may read: those of environments they can view, and
    their own events outside any environment."""
    return AuditEvent.objects.restrict(user, visible_environments(user))


def get_service(user, action: str = VIEW, **lookup) -> Service:
    """The service matching ``lookup`` if ``user`` may see it (see
    ``Service.objects.restrict``); NotFound otherwise, exactly as for a missing one."""
    try:
        return Service.objects.restrict(user, action).get(**lookup)
    except (Service.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such service.") from None


def get_deployment(user, action: str = VIEW, **lookup) -> Deployment:
    """The deployment matching ``lookup`` if ``user`` may perform ``action`` in its
    environment; NotFound otherwise."""
    try:
        return Deployment.objects.restrict(user, action).get(**lookup)
    except (Deployment.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such deployment.") from None


def environments_with_actions(user) -> list[tuple[Environment, frozenset[str]]]:
    """The environments ``user`` can view, each with the actions they have there."""
    environments = list(visible_environments(user))
    actions = actions_by_environment(user, environments)
    return [(environment, actions[environment.pk]) for environment in environments]


def locate_container(candidates, reference: str, action: str) -> tuple[Environment, dict]:
    """``(environment, container)`` for ``reference`` (id, id prefix or name) among
    ``candidates`` (:func:`environments_with_actions`), for ``action``.

    An environment owns a container by label when ``only_labelled_containers``. Each
    endpoint is asked once, all of them at the same time. Not found anywhere visible is
    NotFound, whether it exists or not; found only where ``action`` is missing is
    Forbidden; not found while an endpoint could not be asked is EngineUnavailable.
    Blocking: call it from a worker thread.
    """
    if not CONTAINER_REFERENCE.fullmatch(reference or ""):
        raise NotFound("No such container.")
    by_endpoint: dict[str, list] = {}
    for environment, actions in candidates:
        by_endpoint.setdefault(environment.endpoint_url, []).append((environment, actions))

    def inspect(group):
        try:
            return group, engine.inspect_container(group[0][0], reference), None
        except engine.EngineUnavailable as exc:
            return group, None, exc

    found, unreachable = [], None
    if by_endpoint:
        pool = ThreadPoolExecutor(max_workers=min(len(by_endpoint), 8))
        try:
            for future in as_completed([pool.submit(inspect, g) for g in by_endpoint.values()]):
                group, container, error = future.result()
                unreachable = unreachable or error
                if container is None:
                    continue
                owners = [
                    (environment, actions, container)
                    for environment, actions in group
                    if engine.owns_container(environment, container["labels"])
                ]
                found += owners
                for environment, actions, _ in owners:
                    if action in actions:  # the answer: a hung engine elsewhere cannot change it
                        return environment, container
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
    if found:  # owned where the action is missing (where it is held, it returned above)
        raise Forbidden(
            f"You may not {ACTION_PHRASES[action]} in the environment of that container."
        )
    if unreachable is not None:
        raise unreachable
    raise NotFound("No such container.")

"""The one permission path for environments and everything that lives in them.

HTML views, API viewsets, websocket consumers, tasks and domain functions all ask
here. Someone who cannot view an environment gets the same "not found" as for an
environment that does not exist, so probing reveals nothing; someone who can view
it but lacks the action gets "permission denied" with the action named.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from guardian.core import ObjectPermissionChecker

from environments.models import Environment
from environments.roles import ACTION_LABELS, ACTIONS, VIEW

__all__ = [
    "action_labels",
    "actions_by_environment",
    "allowed_actions",
    "can",
    "get_environment",
    "require",
    "visible_environments",
]


def can(user, environment: Environment, action: str) -> bool:
    """Whether ``user`` may perform ``action`` in ``environment``."""
    if action not in ACTIONS:
        raise ValueError(f"Unknown environment action {action!r}.")
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return ObjectPermissionChecker(user).has_perm(action, environment)


def require(user, environment: Environment, action: str) -> None:
    """Raise 404 when ``user`` cannot see ``environment``, 403 when it lacks ``action``."""
    if not can(user, environment, VIEW):
        raise Http404("No such environment.")
    if action != VIEW and not can(user, environment, action):
        raise PermissionDenied(
            f"You may not {ACTION_LABELS[action].lower()} in {environment.name}: "
            f"ask an environment manager for the '{action}' permission."
        )


def get_environment(user, action: str = VIEW, **lookup) -> Environment:
    """The environment matching ``lookup`` if ``user`` may perform ``action`` there."""
    try:
        environment = Environment.objects.get(**lookup)
    except (Environment.DoesNotExist, ValueError):
        raise Http404("No such environment.") from None
    require(user, environment, action)
    return environment


def allowed_actions(user, environment: Environment) -> frozenset[str]:
    """All actions ``user`` has in ``environment``."""
    return actions_by_environment(user, [environment]).get(environment.pk, frozenset())


def actions_by_environment(user, environments) -> dict[int, frozenset[str]]:
    """Actions per environment id, with one permission query for the whole list."""
    environments = list(environments)
    if user is None or not user.is_authenticated or not user.is_active:
        return {env.pk: frozenset() for env in environments}
    if user.is_superuser:
        return {env.pk: frozenset(ACTIONS) for env in environments}
    checker = ObjectPermissionChecker(user)
    checker.prefetch_perms(environments)
    return {
        env.pk: frozenset(a for a in ACTIONS if checker.has_perm(a, env)) for env in environments
    }


def action_labels(actions) -> list[str]:
    """Human names of ``actions``, in the canonical order, for pages."""
    return [ACTION_LABELS[action] for action in ACTIONS if action in actions]


def visible_environments(user):
    """The environments ``user`` can view, along the promotion path."""
    return Environment.objects.restrict(user, VIEW)

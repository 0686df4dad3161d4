"""Per-environment actions and the role presets that bundle them.

A preset gives different actions depending on the environment's tier, as in the
architecture's table: a Developer deploys in development but only reads logs in
testing and sees nothing in production.
"""

from __future__ import annotations

from django.db import models

__all__ = ["ACTIONS", "PRESETS", "Role", "Tier", "preset_actions"]

VIEW = "view_environment"
LOGS = "view_logs"
DEPLOY = "deploy_to_environment"
PROMOTE = "promote_from_environment"
MANAGE = "manage_environment"

#: Every per-environment action, in the order the UI lists them.
ACTIONS: tuple[str, ...] = (VIEW, LOGS, DEPLOY, PROMOTE, MANAGE)

# For sentences: "You may not <phrase> in Ops".
ACTION_PHRASES = {
    VIEW: "see this",
    LOGS: "read logs",
    DEPLOY: "deploy or operate containers",
    PROMOTE: "sign off or promote",
    MANAGE: "manage the environment",
}

ACTION_LABELS = {
    VIEW: "View",
    LOGS: "Logs",
    DEPLOY: "Deploy",
    PROMOTE: "Sign off / promote",
    MANAGE: "Manage",
}


class Tier(models.TextChoices):
    DEVELOPMENT = "development", "Development"
    TESTING = "testing", "Testing"
    PRODUCTION = "production", "Production"


class Role(models.TextChoices):
    DEVELOPER = "developer", "Developer"
    TESTER = "tester", "Tester"
    OPERATOR = "operator", "Operator"
    ADMIN = "admin", "Admin"
    CUSTOM = "custom", "Custom"


PRESETS: dict[str, dict[str, frozenset[str]]] = {
    Role.DEVELOPER: {
        Tier.DEVELOPMENT: frozenset({VIEW, LOGS, DEPLOY}),
        Tier.TESTING: frozenset({VIEW, LOGS}),
        Tier.PRODUCTION: frozenset(),
    },
    Role.TESTER: {
        Tier.DEVELOPMENT: frozenset({VIEW}),
        Tier.TESTING: frozenset({VIEW, LOGS, DEPLOY, PROMOTE}),
        Tier.PRODUCTION: frozenset({VIEW}),
    },
    Role.OPERATOR: {
        Tier.DEVELOPMENT: frozenset({VIEW}),
        Tier.TESTING: frozenset({VIEW}),
        Tier.PRODUCTION: frozenset({VIEW, LOGS, DEPLOY, MANAGE}),
    },
    Role.ADMIN: {tier: frozenset(ACTIONS) for tier in Tier.values},
}


def preset_actions(role: str, tier: str, custom: list[str] | None = None) -> frozenset[str]:
    """The actions ``role`` grants in an environment of ``tier``.

    A custom role grants exactly ``custom``; anything granted implies viewing, since
    an action on an environment one cannot see makes no sense.
    """
    if role == Role.CUSTOM:
        unknown = set(custom or []) - set(ACTIONS)
        if unknown:
            raise ValueError(f"Unknown actions: {', '.join(sorted(unknown))}.")
        actions = frozenset(custom or [])
        return actions | {VIEW} if actions else actions
    return PRESETS[role][tier]

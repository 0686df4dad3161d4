"""The promotion board: repositories × environments, as one user may see and act on it."""

from __future__ import annotations

from dataclasses import dataclass, field

from environments import access
from environments.models import Environment
from environments.roles import PROMOTE
from registry.inventory import DeployedImage, deployed_images_everywhere
from registry.models import Promotion

__all__ = ["Board", "Cell", "build_board", "sign_off_targets", "sign_off_targets_of"]


@dataclass
class Cell:
    environment: Environment
    running: list[DeployedImage] = field(default_factory=list)
    promoted: Promotion | None = None
    can_promote: bool = False
    next_environment: Environment | None = None


@dataclass
class Board:
    environments: list[Environment]
    rows: dict[str, list[Cell]]  # "host/repository" -> one cell per environment
    errors: dict[str, str]  # environment name -> why its containers are unknown


def sign_off_targets(user, environment: Environment) -> Environment | None:
    """The environment a sign-off in ``environment`` promotes to, if ``user`` may sign off."""
    if not access.can(user, environment, PROMOTE):
        return None
    return environment.next_environment()


def sign_off_targets_of(user, environments) -> dict[int, Environment | None]:
    """:func:`sign_off_targets` for many environments, in a constant number of queries."""
    environments = list(environments)
    allowed = access.actions_by_environment(user, environments)
    following = Environment.objects.next_along_path(
        [env for env in environments if PROMOTE in allowed[env.pk]]
    )
    return {env.pk: following.get(env.pk) for env in environments}


def build_board(user, environments) -> Board:
    """The board of ``environments`` (a page of those ``user`` can view): one engine call
    per endpoint they use (all at once), a constant number of queries."""
    environments = list(environments)
    targets = sign_off_targets_of(user, environments)
    rows: dict[str, dict[int, Cell]] = {}
    errors: dict[str, str] = {}
    everywhere = deployed_images_everywhere(environments)

    def cell(key: str, environment: Environment) -> Cell:
        cells = rows.setdefault(key, {})
        if environment.pk not in cells:
            cells[environment.pk] = Cell(environment)
        return cells[environment.pk]

    for environment in environments:
        items, error = everywhere[environment.pk]
        if error:
            errors[environment.name] = error
        for item in items:  # one row per repository: a digest in two is two rows
            cell(f"{item.registry.host}/{item.repository}", environment).running.append(item)
    latest = (
        Promotion.objects.filter(
            status=Promotion.Status.SUCCEEDED, target_environment__in=environments
        )
        .select_related("target_registry", "actor", "target_environment")
        .order_by("finished_at")
    )
    by_pk = {environment.pk: environment for environment in environments}
    for promotion in latest:  # later ones overwrite earlier ones
        key = f"{promotion.target_registry.host}/{promotion.target_repository}"
        cell(key, by_pk[promotion.target_environment_id]).promoted = promotion
    board_rows = {}
    for key in sorted(rows):
        board_rows[key] = []
        for environment in environments:
            current = rows[key].get(environment.pk) or Cell(environment)
            if current.running and targets[environment.pk] is not None:
                current.next_environment = targets[environment.pk]
                current.can_promote = True
            board_rows[key].append(current)
    return Board(environments=environments, rows=board_rows, errors=errors)

"""What the deploy picker offers: the digests a person may deploy to an environment.

What runs in the other environments they can see ("what Test runs"), the repository's
tags (read from the registry first, so a push a minute ago is there) and, for a
protected environment, what was promoted into it. Each comes with whether
:func:`environments.actions.deployments.deploy` would accept it there and, if not, why:
the same promotion rule the deploy enforces (``Promotion.objects.succeeded_into``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from environments import access
from environments.models import Deployment, Environment, Service
from environments.roles import DEPLOY
from registry.client import RegistryError
from registry.inventory import refresh_repository
from registry.models import Promotion, Tag

__all__ = ["Candidate", "deploy_candidates"]


@dataclass
class Candidate:
    """One choice of the picker."""

    kind: str  # "environment", "tag" or "promoted"
    name: str  # the environment's name, the tag, or the promotion's tags
    digest: str
    label: str
    allowed: bool = True
    reason: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def deploy_candidates(service: Service, environment: Environment, *, user) -> dict:
    """The picker's choices for deploying ``service`` to ``environment``, the registry
    read first (``problem`` says so when it could not be, and what Berth last saw is
    offered)."""
    access.require(user, environment, DEPLOY)
    problem = ""
    try:
        refresh_repository(service.registry, service.repository)
    except RegistryError as exc:
        problem = (
            f"Could not read {service.registry.host}/{service.repository} from the "
            f"registry ({exc}); showing the tags Berth saw last."
        )
    choices: list[Candidate] = []
    others = access.visible_environments(user).exclude(pk=environment.pk)
    for other in others:
        running = Deployment.objects.last_succeeded(service, other)
        if running is not None:
            choices.append(
                Candidate("environment", other.name, running.digest, f"What {other.name} runs")
            )
    tags = Tag.objects.filter(
        repository__registry=service.registry, repository__name=service.repository
    ).order_by("-updated_at", "name")
    choices += [Candidate("tag", tag.name, tag.digest, f"Tag {tag.name}") for tag in tags]
    if environment.protected:
        promotions = (
            Promotion.objects.filter(
                target_environment=environment,
                target_registry=service.registry,
                target_repository=service.repository,
                status=Promotion.Status.SUCCEEDED,
            )
            .select_related("actor")
            .order_by("-finished_at")
        )
        promoted: dict[str, Promotion] = {}
        for promotion in promotions:
            promoted.setdefault(promotion.digest, promotion)
        for choice in choices:
            if choice.digest not in promoted:
                choice.allowed = False
                choice.reason = (
                    f"not promoted into {environment.name}: it only runs digests signed off "
                    "in the environment before it"
                )
        choices = [
            Candidate(
                "promoted",
                ", ".join(p.tags) or p.version,
                digest,
                f"Promoted into {environment.name}"
                + (f" as {', '.join(p.tags)}" if p.tags else "")
                + (f" by {p.actor.username}" if p.actor else ""),
            )
            for digest, p in promoted.items()
        ] + choices
    return {
        "environment": environment.slug,
        "protected": environment.protected,
        "problem": problem,
        "candidates": [choice.as_dict() for choice in choices],
    }

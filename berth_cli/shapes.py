"""The CLI's stable JSON shapes of server objects: the fields ``-o json`` promises
(``berth_cli/schemas/``), whatever else a newer server adds to its answers."""

from __future__ import annotations

from typing import Any

__all__ = [
    "audit_event",
    "config_revision",
    "container",
    "deployment",
    "environment",
    "image",
    "promotion",
    "service",
]


def _pick(row: dict, *names: str) -> dict[str, Any]:
    return {name: row.get(name) for name in names}


def environment(row: dict) -> dict:
    state = row.get("endpoint_state") or {}
    return _pick(row, "id", "slug", "name", "tier", "protected", "mode", "allowed_actions") | {
        "reachable": state.get("reachable") if isinstance(state, dict) else None
    }


def container(row: dict) -> dict:
    labels = row.get("labels") or {}
    return _pick(row, "id", "short_id", "name", "image", "image_digest", "state", "status", "health", "created") | {
        "service": labels.get("berth.service"),
        "replica": labels.get("berth.slot"),
    }  # fmt: skip


def service(row: dict) -> dict:
    return _pick(row, "id", "name", "description", "registry", "repository", "created_at")


def image(row: dict) -> dict:
    return _pick(
        row, "registry", "repository", "digest", "reference", "size", "created", "tags"
    ) | {
        "promotions": [
            _pick(p, "id", "from", "to", "status", "actor", "finished_at")
            for p in row.get("promotions") or []
        ]
    }


def deployment(row: dict) -> dict:
    return _pick(
        row, "id", "service", "environment", "action", "digest", "revision", "strategy",
        "status", "progress", "reason", "actor", "rollback_of", "created_at", "started_at",
        "finished_at",
    )  # fmt: skip


def promotion(row: dict) -> dict:
    return _pick(
        row, "id", "digest", "source_environment", "target_environment", "source_repository",
        "target_repository", "target_reference", "tags", "version", "note", "actor", "status",
        "error", "started_at", "finished_at",
    )  # fmt: skip


def audit_event(row: dict) -> dict:
    return _pick(
        row, "id", "created_at", "actor_name", "action", "target_type", "target_id",
        "target_repr", "environment_name", "details",
    )  # fmt: skip


def config_revision(row: dict) -> dict:
    return _pick(row, "id", "environment", "revision", "comment", "created_by", "created_at")

"""Exec sessions: running a command in a container through the exec websocket.

The websocket (the edge) asks :func:`start_exec_session` for a session record before it
starts anything, touches it while it lives and finishes it once. Every start and every
end is in the audit log: who, which container, what command, when, the exit code.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from environments import access
from environments.models import Environment, ExecSession
from environments.roles import DEPLOY
from portal.core import audit
from portal.core.errors import Conflict, Forbidden

__all__ = [
    "TooManySessions",
    "finish_exec_session",
    "start_exec_session",
    "touch_exec_session",
]


class TooManySessions(Conflict):
    """The user already has as many open exec sessions as allowed."""


def start_exec_session(
    user, environment: Environment, container: dict, command: list[str], *, tty: bool
) -> ExecSession:
    """Record (and audit, as ``container.exec``) a new exec session of ``user`` in
    ``container`` (as :func:`access.locate_container` found it in ``environment``).

    Needs ``deploy_to_environment`` there and an environment that allows exec
    (:attr:`Environment.exec_allowed`); at most ``BERTH_EXEC_SESSIONS_PER_USER`` open
    sessions per user.
    """
    access.require(user, environment, DEPLOY)
    if not environment.exec_allowed:
        raise Forbidden(
            f"Running commands in containers is turned off in {environment.name}: "
            "an administrator may turn it on (allow_exec)."
        )
    with transaction.atomic():
        # Two sessions opened at once must not both see room: the user's row is the lock
        # (SQLite's immediate transactions already serialise writers).
        list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk"))
        limit = settings.EXEC_SESSIONS_PER_USER
        if ExecSession.objects.open().filter(user=user).count() >= limit:
            raise TooManySessions(f"You already have {limit} open exec sessions: close one first.")
        session = ExecSession.objects.create(
            environment=environment,
            user=user,
            username=user.get_username(),
            container_id=container["id"],
            container_name=container.get("name", ""),
            command=list(command),
            tty=tty,
        )
        audit.record(
            user,
            "container.exec",
            session,
            environment=environment,
            target_type="container",
            target_repr=session.container_name or session.container_id[:12],
            details={
                "session": session.pk,
                "container_id": session.container_id,
                "command": session.command,
                "tty": tty,
            },
        )
    return session


def touch_exec_session(session_id: int) -> None:
    """The session is still alive (see :meth:`ExecSession.objects.open`)."""
    ExecSession.objects.filter(pk=session_id, ended_at__isnull=True).update(
        last_seen_at=timezone.now()
    )


def finish_exec_session(session_id: int, *, exit_code: int | None, reason: str) -> bool:
    """End the session once, with the command's exit code (None when it did not end by
    itself) and why; audited as ``container.exec.end``. False if it had ended already."""
    now = timezone.now()
    with transaction.atomic():
        ended = ExecSession.objects.filter(pk=session_id, ended_at__isnull=True).update(
            ended_at=now, last_seen_at=now, exit_code=exit_code, end_reason=reason[:200]
        )
        if not ended:
            return False
        session = ExecSession.objects.select_related("environment", "user").get(pk=session_id)
        audit.record(
            session.user,
            "container.exec.end",
            session,
            environment=session.environment,
            target_type="container",
            target_repr=session.container_name or session.container_id[:12],
            details={
                "session": session.pk,
                "container_id": session.container_id,
                "exit_code": exit_code,
                "reason": reason[:200],
                "seconds": round((now - session.started_at).total_seconds(), 3),
            },
        )
    return True

"""The per-user limit on open exec sessions holds when sessions open at the same moment:
each start locks the user's row, so concurrent starts never both see room."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from environments import actions
from environments.actions.exec_sessions import TooManySessions
from environments.models import ExecSession

pytestmark = pytest.mark.django_db(transaction=True)


def test_sessions_opened_at_once_never_exceed_the_limit(settings, personas, environments):
    settings.EXEC_SESSIONS_PER_USER = 2
    dev = environments["dev"]
    dev.allow_exec = True
    dev.save()
    user = personas["developer"]
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def start(n: int) -> None:
        try:
            barrier.wait()
            actions.start_exec_session(
                user, dev, {"id": f"{n:064x}", "name": f"c{n}"}, ["sh"], tty=False
            )
            outcomes.append("started")
        except TooManySessions:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=start, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["refused"] * 4 + ["started"] * 2
    assert ExecSession.objects.open().filter(user=user).count() == 2

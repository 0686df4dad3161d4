"""The unit tier: tests that run in seconds with no Docker Engine, registry, Redis or
network, and need no stack (``pytest tests/unit``).

``tests/conftest.py`` ends a ``CI=true`` session at its start when the stack is
incomplete. A session that collects nothing but ``tests/unit`` needs none of it, so the
check is switched off for that session only; a run that includes any other tier keeps
it. Every unit test also runs with network connections refused, so a test that would
quietly reach Docker, a registry or Redis fails instead.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests import stack

UNIT = Path(__file__).resolve().parent


def _only_unit_tests(config) -> bool:
    base = Path(config.invocation_params.dir)
    paths = [(base / str(arg).split("::", 1)[0]).resolve() for arg in config.args]
    return bool(paths) and all(path == UNIT or UNIT in path.parents for path in paths)


def pytest_configure(config):
    # Runs before tests/conftest.py's pytest_sessionstart when tests/unit is what was asked
    # for (its conftest is then an initial one); loaded later, in a wider run, it does nothing.
    if _only_unit_tests(config):
        stack.IN_CI = False


class NetworkUsed(AssertionError):
    pass


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any connect() (TCP or a Unix socket such as the Docker socket) fails the test."""

    def refuse(sock, address, *args, **kwargs):
        raise NetworkUsed(f"a unit test tried to connect to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)

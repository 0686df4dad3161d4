"""The permission path's decisions that need neither a database nor an engine
(environments/access.py): who is refused before any lookup, and how a container
reference is checked and answered."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, User

from environments import access, engine
from environments.models import Environment
from environments.roles import ACTIONS, DEPLOY, LOGS, VIEW
from portal.core.errors import Forbidden, NotFound

CONTAINER_ID = "4f2a" * 16


def environment(slug: str, endpoint: str = "unix:///engines/a.sock", labelled: bool = True):
    return Environment(
        name=slug.title(), slug=slug, endpoint_url=endpoint, only_labelled_containers=labelled
    )


@pytest.fixture
def engine_calls(monkeypatch):
    """engine.inspect_container replaced: ``containers[(endpoint, reference)]`` answers,
    EngineUnavailable for endpoints in ``down``; every call is kept in ``calls``."""
    state = {"calls": [], "containers": {}, "down": set()}

    def inspect_container(environment, reference):
        state["calls"].append((environment.endpoint_url, reference))
        if environment.endpoint_url in state["down"]:
            raise engine.EngineUnavailable(f"{environment.name}: engine unreachable")
        return state["containers"].get((environment.endpoint_url, reference))

    monkeypatch.setattr(engine, "inspect_container", inspect_container)
    return state


def container(slug: str | None) -> dict:
    labels = {"berth.environment": slug} if slug else {}
    return {"id": CONTAINER_ID, "name": "web-1", "labels": labels}


# --- can() -------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ACTIONS)
def test_nobody_anonymous_or_inactive_can_do_anything(action):
    dev = environment("dev")
    assert access.can(None, dev, action) is False
    assert access.can(AnonymousUser(), dev, action) is False
    assert access.can(User(username="gone", is_active=False), dev, action) is False
    assert access.can(User(username="root", is_active=False, is_superuser=True), dev, action) is False  # fmt: skip


@pytest.mark.parametrize("action", ACTIONS)
def test_an_active_superuser_can_do_everything(action):
    assert access.can(User(username="root", is_superuser=True), environment("ops"), action)


def test_an_unknown_action_is_a_programming_error_even_for_nobody():
    with pytest.raises(ValueError, match="Unknown environment action 'deploy'"):
        access.can(AnonymousUser(), environment("dev"), "deploy")


def test_require_says_not_found_to_whoever_cannot_view():
    with pytest.raises(NotFound, match="No such environment."):
        access.require(AnonymousUser(), environment("dev"), DEPLOY)


def test_nobody_has_actions_anywhere():
    environments = [environment("dev"), environment("ops")]
    environments[0].pk, environments[1].pk = 1, 2
    assert access.actions_by_environment(AnonymousUser(), environments) == {
        1: frozenset(),
        2: frozenset(),
    }
    assert access.actions_by_environment(User(username="su", is_superuser=True), environments) == {
        1: frozenset(ACTIONS),
        2: frozenset(ACTIONS),
    }


def test_action_labels_come_in_the_canonical_order():
    assert access.action_labels({DEPLOY, VIEW, "not-an-action"}) == ["View", "Deploy"]


# --- locate_container --------------------------------------------------------------------


@pytest.mark.parametrize(
    "reference",
    [
        "",
        None,
        "../etc/passwd",
        "web/1",
        "-web",
        ".hidden",
        "_x",
        "web 1",
        "web\n",
        "a" * 129,
        "wéb",
        "%2e%2e",
    ],  # fmt: skip
)
def test_a_malformed_reference_is_not_found_before_any_engine_call(reference, engine_calls):
    candidates = [(environment("dev"), frozenset(ACTIONS))]
    for where in ([], candidates):
        with pytest.raises(NotFound, match="No such container."):
            access.locate_container(where, reference, LOGS)
    assert engine_calls["calls"] == []


@pytest.mark.parametrize("reference", ["web-dev-1-d3", CONTAINER_ID, "4f2a", "a" * 128, "A.b_c-1"])
def test_a_well_formed_reference_is_looked_up(reference, engine_calls):
    with pytest.raises(NotFound, match="No such container."):
        access.locate_container([], reference, LOGS)  # nowhere to look: not found
    access_list = [(environment("dev"), frozenset({VIEW, LOGS}))]
    with pytest.raises(NotFound):
        access.locate_container(access_list, reference, LOGS)
    assert engine_calls["calls"] == [("unix:///engines/a.sock", reference)]


def test_the_container_is_found_in_the_environment_that_owns_it(engine_calls):
    dev, test = environment("dev"), environment("test")  # one engine shared by two
    engine_calls["containers"][("unix:///engines/a.sock", "web-1")] = container("test")
    found_in, found = access.locate_container(
        [(dev, frozenset({VIEW, LOGS})), (test, frozenset({VIEW, LOGS}))], "web-1", LOGS
    )
    assert found_in is test and found["id"] == CONTAINER_ID
    assert len(engine_calls["calls"]) == 1  # each endpoint is asked once


def test_an_unlabelled_environment_owns_whatever_its_engine_runs(engine_calls):
    own = environment("own", endpoint="unix:///engines/b.sock", labelled=False)
    engine_calls["containers"][("unix:///engines/b.sock", "web-1")] = container(None)
    assert access.locate_container([(own, frozenset({VIEW, LOGS}))], "web-1", LOGS)[0] is own


def test_a_container_seen_only_without_the_action_is_forbidden(engine_calls):
    dev = environment("dev")
    engine_calls["containers"][("unix:///engines/a.sock", "web-1")] = container("dev")
    with pytest.raises(Forbidden, match="You may not read logs in the environment of that"):
        access.locate_container([(dev, frozenset({VIEW}))], "web-1", LOGS)


def test_a_container_of_an_environment_one_cannot_see_is_just_not_found(engine_calls):
    dev = environment("dev")
    engine_calls["containers"][("unix:///engines/a.sock", "web-1")] = container("ops")
    with pytest.raises(NotFound, match="No such container."):
        access.locate_container([(dev, frozenset(ACTIONS))], "web-1", LOGS)


def test_not_found_while_an_engine_was_down_is_the_engine_error(engine_calls):
    up = environment("dev")
    down = environment("ops", endpoint="tcp://ops.example:2376")
    engine_calls["down"].add("tcp://ops.example:2376")
    candidates = [(up, frozenset(ACTIONS)), (down, frozenset(ACTIONS))]
    with pytest.raises(engine.EngineUnavailable, match="Ops: engine unreachable"):
        access.locate_container(candidates, "web-1", LOGS)
    # Found on a reachable engine, the one that is down does not matter.
    engine_calls["containers"][("unix:///engines/a.sock", "web-1")] = container("dev")
    assert access.locate_container(candidates, "web-1", LOGS)[0] is up


@pytest.mark.parametrize("url", ["tcp://user:secret@127.0.0.1:2376", "tcp://token@127.0.0.1:2376"])
def test_credentials_in_an_endpoint_url_are_refused(url):
    from environments.engine import validate_endpoint_url

    with pytest.raises(ValueError, match="credentials"):
        validate_endpoint_url(url)

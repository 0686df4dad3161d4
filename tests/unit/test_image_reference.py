"""Which repository a container runs from, when one digest lives in several."""

import pytest

from environments.engine.probe import image_reference

DIGEST = "sha256:" + "a" * 64
BOTH = [f"127.0.0.1:5000/team-b/app@{DIGEST}", f"127.0.0.1:5000/team-a/app@{DIGEST}"]


def test_a_container_created_by_digest_names_its_own_repository():
    assert image_reference(f"127.0.0.1:5000/team-a/app@{DIGEST}", BOTH) == BOTH[1]


def test_a_container_created_by_tag_takes_the_digest_of_its_repository():
    assert image_reference("127.0.0.1:5000/team-a/app:1.0", BOTH) == BOTH[1]
    assert image_reference("127.0.0.1:5000/team-b/app", BOTH) == BOTH[0]


def test_an_ambiguous_container_is_not_attributed_to_anyone():
    assert image_reference("sha256:" + "b" * 64, BOTH) == ""
    assert image_reference("other/app:latest", BOTH) == ""


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("127.0.0.1:5000/demo/app", ("127.0.0.1:5000", "demo/app")),
        ("127.0.0.1:5000/demo/app:1.2", ("127.0.0.1:5000", "demo/app")),
        ("registry.example/team/app@sha256:" + "a" * 64, ("registry.example", "team/app")),
        ("localhost/app", ("localhost", "app")),
        ("demo/app", (None, "demo/app")),
        ("demo/app:latest", (None, "demo/app")),
        ("app", (None, "app")),
    ],
)
def test_split_reference_takes_the_host_only_when_it_looks_like_one(reference, expected):
    from registry.client import split_reference

    assert split_reference(reference) == expected


def test_bound_ports_follow_the_strategies():
    from environments.deploying.config import validate
    from environments.deploying.policy import bound_ports

    both_colours = {20000, 20001, 20100, 20101}
    # Rolling (the default) starts each new replica beside the old one, on the other
    # colour's port, unless it may not surge; recreate stops first.
    assert bound_ports(validate({"port": 20000, "replicas": 2})) == both_colours
    stop_first = {"type": "rolling", "max_surge": 0, "max_unavailable": 1}
    assert bound_ports(validate({"port": 20000, "replicas": 2, "strategy": stop_first})) == {
        20000, 20001,
    }  # fmt: skip
    recreate = validate({"port": 20000, "replicas": 2, "strategy": "recreate"})
    assert bound_ports(recreate) == {20000, 20001}
    blue_green = validate({"port": 20000, "replicas": 2, "strategy": "blue-green"})
    assert bound_ports(blue_green) == {20000, 20001, 20100, 20101}
    assert bound_ports(validate({"network_mode": "none", "port": 20000})) == set()
    health = validate({"health_check": {"http_path": "/h", "port": 21000}})
    assert bound_ports(health) == {21000}

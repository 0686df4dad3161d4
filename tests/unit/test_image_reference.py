"""Which repository a container runs from, when one digest lives in several."""

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

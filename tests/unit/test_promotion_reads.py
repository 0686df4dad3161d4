"""Registry reads of a promotion run at the same time, and a tag write is verified by
the registry's answer or, without one, by reading the tag back (registry/promotion.py)."""

from __future__ import annotations

import threading
import time

import pytest

from registry import promotion
from registry.client import Manifest, RegistryError


def test_independent_reads_run_at_the_same_time_and_keep_their_order():
    started = threading.Barrier(3, timeout=5)  # each read waits for the other two

    def read(value):
        def call():
            started.wait()
            return value

        return call

    reads = [promotion._start(read(value)) for value in "abc"]
    assert promotion._results(reads) == ["a", "b", "c"]


def test_the_first_failure_is_raised_once_every_read_has_ended():
    ended = []

    def slow():
        time.sleep(0.2)
        ended.append("slow")
        return "late"

    def failing():
        raise RegistryError("reg", "look up app:1", "HTTP 500")

    with pytest.raises(RegistryError, match="look up app:1"):
        promotion._results([promotion._start(failing), promotion._start(slow)])
    assert ended == ["slow"]


class Client:
    """The two calls a tag write makes, answered from a script."""

    name, host = "reg", "registry.test"

    def __init__(self, stored, resolved=None):
        self.stored, self.resolved, self.calls = stored, resolved, []

    def put_manifest(self, repository, tag, manifest):
        self.calls.append(("PUT", tag))
        return self.stored

    def resolve(self, repository, tag):
        self.calls.append(("HEAD", tag))
        return self.resolved


MANIFEST = Manifest(digest="sha256:" + "1" * 64, media_type="x", body=b"{}")


def test_a_write_the_registry_confirms_is_not_read_back():
    client = Client(stored=MANIFEST.digest)
    promotion._write_tag(client, "app", "1.0", MANIFEST)
    assert client.calls == [("PUT", "1.0")]


def test_a_write_without_a_digest_in_the_answer_is_read_back():
    client = Client(stored=None, resolved=MANIFEST.digest)
    promotion._write_tag(client, "app", "1.0", MANIFEST)
    assert client.calls == [("PUT", "1.0"), ("HEAD", "1.0")]


def test_a_tag_that_reads_back_elsewhere_fails_the_write():
    client = Client(stored=None, resolved="sha256:" + "2" * 64)
    with pytest.raises(RegistryError, match="it resolves to sha256:2+, not sha256:1+"):
        promotion._write_tag(client, "app", "1.0", MANIFEST)

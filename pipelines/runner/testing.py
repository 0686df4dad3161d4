"""The test stage's outside work: one container against the environment just deployed,
its exit code, its log, and an optional JUnit XML report read back from it (bounded)."""

from __future__ import annotations

import codecs
import io
import tarfile
import threading
import time
import xml.etree.ElementTree as ElementTree  # noqa: S405 - DOCTYPEs are refused first
from collections.abc import Callable

import requests
from django.db import connection

from environments import engine

__all__ = ["MAX_REPORT", "TestOutcome", "run_test_container", "summarise_junit"]

MAX_REPORT = 1024 * 1024  # bytes of a JUnit report read back
MAX_FAILED_NAMES = 50


class TestOutcome:
    __test__ = False  # not a pytest class

    def __init__(self, exit_code: int | None, timed_out: bool, report: dict | None, note: str = ""):
        self.exit_code = exit_code
        self.timed_out = timed_out
        self.report = report
        self.note = note


def summarise_junit(data: bytes) -> dict:
    """Counts and failed test names of a JUnit XML report; ``{"error": ...}`` when it is
    not one. Documents with a DOCTYPE (entity expansion) are refused unparsed."""
    if len(data) > MAX_REPORT:
        return {"error": f"the report is larger than {MAX_REPORT // 1024} KiB."}
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        return {"error": "the report has a DOCTYPE; Berth reads plain JUnit XML only."}
    try:
        root = ElementTree.fromstring(data)  # noqa: S314 - no DOCTYPE, bounded size
    except ElementTree.ParseError as exc:
        return {"error": f"the report is not XML: {exc}"}
    cases = list(root.iter("testcase"))
    failed, errors, skipped = [], 0, 0
    for case in cases:
        name = ".".join(filter(None, (case.get("classname"), case.get("name")))) or "?"
        if case.find("error") is not None:
            errors += 1
            failed.append(name)
        elif case.find("failure") is not None:
            failed.append(name)
        elif case.find("skipped") is not None:
            skipped += 1
    return {
        "tests": len(cases),
        "failures": len(failed) - errors,
        "errors": errors,
        "skipped": skipped,
        "passed": len(cases) - len(failed) - skipped,
        "failed": [name[:200] for name in failed[:MAX_FAILED_NAMES]],
    }


def _read_report(container, path: str) -> dict:
    try:
        stream, stat = container.get_archive(path)
    except Exception as exc:  # noqa: BLE001 - the SDK raises NotFound or APIError
        return {"error": f"no report at {path}: {getattr(exc, 'explanation', None) or exc}"}
    if int(stat.get("size") or 0) > MAX_REPORT:
        return {"error": f"the report is larger than {MAX_REPORT // 1024} KiB."}
    buffer = io.BytesIO()
    for chunk in stream:
        buffer.write(chunk)
        if buffer.tell() > MAX_REPORT + 64 * 1024:  # the tar's headers on top of the file
            return {"error": f"the report is larger than {MAX_REPORT // 1024} KiB."}
    buffer.seek(0)
    with tarfile.open(fileobj=buffer) as archive:
        member = next((m for m in archive.getmembers() if m.isfile()), None)
        if member is None:
            return {"error": f"{path} is not a file."}
        handle = archive.extractfile(member)
        return summarise_junit(handle.read(MAX_REPORT + 1) if handle else b"")


def run_test_container(
    environment: engine.Endpoint,
    *,
    image: str,
    command: list[str],
    env: dict[str, str],
    labels: dict[str, str],
    timeout: float,
    junit: str | None,
    log: Callable[[str], None],
    cancelled: Callable[[], bool],
) -> TestOutcome:
    """Run the test container to its end (or ``timeout``, or cancellation), stream its log
    to ``log`` as it runs, read its report, and remove it."""
    with engine.open_client(environment, timeout=60) as client:
        container = client.containers.run(
            image, command or None, environment=env, labels=labels, network_mode="host",
            detach=True,
        )  # fmt: skip
        try:
            reader = _LogFollower(client, container.id, log)
            reader.start()
            deadline = time.monotonic() + timeout
            exit_code, timed_out, note = None, False, ""
            while exit_code is None:
                try:
                    exit_code = container.wait(timeout=1)["StatusCode"]
                except (requests.exceptions.ConnectionError, requests.exceptions.Timeout):
                    if time.monotonic() > deadline:
                        timed_out = True
                    elif cancelled():
                        note = "cancelled"
                    else:
                        continue
                    container.kill()
                    exit_code = container.wait(timeout=10)["StatusCode"]
            reader.finish()
            report = _read_report(container, junit) if junit else None
            return TestOutcome(exit_code, timed_out, report, note)
        finally:
            container.remove(force=True)


class _LogFollower(threading.Thread):
    """Follows a container's output (stdout and stderr, as the engine interleaves them)
    and hands it to ``log`` while the container runs; the stream ends with the container."""

    def __init__(self, client, container_id: str, log: Callable[[str], None]):
        super().__init__(name=f"test-log-{container_id[:12]}", daemon=True)
        self.client, self.container_id, self.log = client, container_id, log
        self.stream = None

    def run(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        try:
            self.stream = self.client.api.logs(
                self.container_id, stdout=True, stderr=True, stream=True, follow=True
            )
            for chunk in self.stream:
                self.log(decoder.decode(chunk))
            self.log(decoder.decode(b"", final=True))
        except Exception as exc:  # noqa: BLE001 - the stream ends however the engine ends it
            self.log(f"\n[the log stream ended early: {exc}]\n")
        finally:
            connection.close()  # the log writer's database connection in this thread

    def finish(self, wait: float = 5.0) -> None:
        """The container has exited: let the stream drain, then close it."""
        self.join(wait)
        if self.is_alive() and self.stream is not None:
            self.stream.close()
            self.join(wait)

"""Pipelines end to end on the real engine, registry and a real Celery worker: a local
bare git repository built and pushed, deployed to Dev and Test, tested, approved,
promoted and deployed to Ops after a confirmation; failing tests, expired approvals and
signed webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import time
import uuid
from datetime import timedelta

import docker
import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from environments import actions, engine
from environments.models import Service
from pipelines.models import Approval, PipelineRun, StageRun, WebhookDelivery
from pipelines.runner.drive import valid_approvals
from registry.client import RegistryClient
from registry.models import Promotion
from tests import stack

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

IDLE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"]


@pytest.fixture
def git_repo(tmp_path):
    """A bare repository whose main branch has a Dockerfile FROM the local test image."""
    bare, work = tmp_path / "app.git", tmp_path / "work"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    subprocess.run(["git", "init", "--quiet", "-b", "main", str(work)], check=True)
    (work / "Dockerfile").write_text(
        f"FROM {stack.TEST_IMAGE}\nARG NONCE\nRUN echo built-$NONCE > /built\n"
    )
    subprocess.run([*git, "-C", str(work), "add", "."], check=True)
    subprocess.run([*git, "-C", str(work), "commit", "--quiet", "-m", "app"], check=True)
    subprocess.run([*git, "-C", str(work), "push", "--quiet", str(bare), "main"], check=True)
    commit = subprocess.run(
        ["git", "-C", str(work), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return str(bare), commit


@pytest.fixture
def service(demo_registry, environments, admin_user):
    """A service in its own repository, configured in Dev, Test and Ops; Ops takes the
    moving tag qa-passed on promotion."""
    service = Service.objects.create(
        name=f"pipe{uuid.uuid4().hex[:6]}", registry=demo_registry,
        repository=f"pipe/{uuid.uuid4().hex[:8]}",
    )  # fmt: skip
    document = {"replicas": 1, "command": IDLE, "stop_grace_period": 1,
                "strategy": {"type": "recreate"}}  # fmt: skip
    for environment in environments.values():
        actions.save_config(admin_user, service, environment, document)
    actions.update_environment(admin_user, environments["ops"], promotion_tag="qa-passed")
    yield service
    client = docker.DockerClient(base_url=stack.DOCKER_HOST, version="auto")
    for container in client.containers.list(
        all=True, filters={"label": f"{engine.LABEL_SERVICE}={service.name}"}
    ):
        container.remove(force=True)
    client.close()


def _create(api, service, text, name="release"):
    response = api.post(
        reverse("pipeline-list"), {"service": service.name, "name": name, "text": text},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.data
    return response.data


def _run(api, run_id):
    return api.get(reverse("pipeline-run-detail", args=[run_id])).data


def _wait(api, run_id, done, timeout=120, what="the run"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = _run(api, run_id)
        if done(run):
            return run
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}: {json.dumps(run, default=str)[:3000]}")


def _stage(run, name):
    return next(stage for stage in run["stages"] if stage["name"] == name)


def _waiting_at(name):
    return lambda run: (
        run["status"] in ("waiting", "failed", "succeeded")
        and (run["status"] != "waiting" or _stage(run, name)["status"] == "waiting")
    )


FULL = """\
stages:
  - name: build
    kind: build
    environment: dev
    git: {{url: {url}, ref: main}}
    build_args: {{NONCE: "{nonce}"}}
  - {{name: deploy-dev, kind: deploy, environment: dev}}
  - {{name: deploy-test, kind: deploy, environment: test}}
  - parallel:
      - name: smoke
        kind: test
        environment: test
        command: "test -f /built && echo smoke ok"
      - name: unit
        kind: test
        environment: test
        command: "printf '<testsuite><testcase name=\\"a\\"/><testcase name=\\"b\\"/></testsuite>' > /tmp/junit.xml"
        junit: /tmp/junit.xml
  - {{name: qa, kind: approval, environment: test}}
  - {{name: promote, kind: promote, environment: test}}
  - {{name: deploy-ops, kind: deploy, environment: ops}}
"""


def test_a_full_run_builds_tests_is_approved_promoted_and_confirmed_into_ops(
    celery_worker_thread, git_repo, service, api_for, admin_user, environments, demo_registry
):
    url, commit = git_repo
    admin = api_for("developer")
    admin.force_authenticate(admin_user)  # the author: holds deploy where stages act for him
    pipeline = _create(admin, service, FULL.format(url=url, nonce=uuid.uuid4().hex))
    assert pipeline["environment"] == "dev" and pipeline["webhook_secret"]

    developer, tester, operator = api_for("developer"), api_for("tester"), api_for("operator")
    # The developer may not deploy in Test, so cannot make the pipeline do it for him
    # (nor take its webhook's secret); the push of his commit starts it, through the CI
    # webhook the author set up.
    refused = developer.post(reverse("pipeline-run", args=[pipeline["id"]]), {}, format="json")
    assert refused.status_code == 403
    assert "deploy-test deploys in Test, where you may not deploy" in str(refused.data)
    assert developer.post(reverse("pipeline-rotate-secret", args=[pipeline["id"]])).status_code == 403  # fmt: skip
    body = json.dumps({"ref": "main", "user": "developer"}).encode()
    started = APIClient().generic(
        "POST", reverse("pipeline-webhook", args=[pipeline["id"]]), body, "application/json",
        **_signed(pipeline["webhook_secret"], body),
    )  # fmt: skip
    assert started.status_code == 202, started.content
    run_id = started.json()["id"]
    run = _wait(developer, run_id, _waiting_at("qa"), 240, "the qa gate")
    assert run["status"] == "waiting", run["reason"]
    build = _stage(run, "build")
    assert build["results"]["commit"] == commit and build["results"]["size"] > 0
    digest = run["digest"]
    assert build["results"]["digest"] == digest and "Successfully built" in build["log"]
    registry = RegistryClient(demo_registry.url)
    assert registry.resolve(service.repository, f"pipeline-{run_id}") == digest
    assert _stage(run, "unit")["results"]["junit"] == {
        "tests": 2, "failures": 0, "errors": 0, "skipped": 0, "passed": 2, "failed": []
    }  # fmt: skip
    assert "smoke ok" in _stage(run, "smoke")["log"]

    # dev cannot sign off in Test; the tester can, and the approval records what he saw.
    stage = {"stage": "qa", "note": "looks good"}
    refused = developer.post(reverse("pipeline-run-approve", args=[run_id]), stage, format="json")
    assert refused.status_code == 403, refused.data
    approved = tester.post(reverse("pipeline-run-approve", args=[run_id]), stage, format="json")
    assert approved.status_code == 200, approved.data
    approval = Approval.objects.get(stage__run_id=run_id, stage__name="qa")
    assert approval.digest == digest and approval.test_results["unit"]["junit"]["passed"] == 2

    run = _wait(developer, run_id, _waiting_at("deploy-ops"), 120, "the Ops confirmation")
    assert run["status"] == "waiting", run["reason"]
    promotion = Promotion.objects.get(digest=digest)
    assert promotion.actor.username == "tester" and promotion.status == "succeeded"
    assert registry.resolve(service.repository, "qa-passed") == digest

    # Ops is hidden from the developer and read-only for the tester; the operator confirms.
    confirm = {"stage": "deploy-ops"}
    assert (
        developer.post(reverse("pipeline-run-approve", args=[run_id]), confirm).status_code == 404
    )
    assert tester.post(reverse("pipeline-run-approve", args=[run_id]), confirm).status_code == 403
    assert operator.post(reverse("pipeline-run-approve", args=[run_id]), confirm).status_code == 200
    run = _wait(developer, run_id, lambda r: r["status"] not in ("running", "waiting"), 120)
    assert run["status"] == "succeeded", run["reason"]

    client = docker.DockerClient(base_url=stack.DOCKER_HOST, version="auto")
    try:
        in_ops = client.containers.list(
            filters={"label": [f"{engine.LABEL_SERVICE}={service.name}",
                               f"{engine.LABEL_ENVIRONMENT}=ops"]}
        )  # fmt: skip
        assert in_ops and all(c.attrs["Config"]["Image"].endswith(digest) for c in in_ops)
    finally:
        client.close()
    # The developer sees the run, but not what happened in Ops.
    assert set(_stage(_run(developer, run_id), "deploy-ops")) == {
        "id", "step", "name", "kind", "status"
    }  # fmt: skip


def _digest_pipeline(stages: str, allow_self: bool = False) -> str:
    return f"allow_self_approval: {'true' if allow_self else 'false'}\nstages:\n{stages}"


def test_a_failing_or_timed_out_test_stops_the_run_before_the_approval(
    celery_worker_thread, service, api_for, admin_user, versions
):
    v1, _ = versions
    service.repository = "demo/app"
    service.save()
    admin = api_for("developer")
    admin.force_authenticate(admin_user)
    text = _digest_pipeline(
        "  - {name: deploy-test, kind: deploy, environment: test}\n"
        "  - parallel:\n"
        "      - name: failing\n        kind: test\n        environment: test\n"
        '        command: "printf \'<testsuite><testcase name=\\"ok\\"/><testcase name=\\"broken\\"><failure/></testcase></testsuite>\' > /tmp/j.xml; exit 3"\n'
        "        junit: /tmp/j.xml\n"
        "      - {name: slow, kind: test, environment: test, command: 'sleep 60', timeout: 2}\n"
        "  - {name: qa, kind: approval, environment: test}\n"
        "  - {name: promote, kind: promote, environment: test}\n"
    )
    pipeline = _create(admin, service, text)
    tester = api_for("tester")
    started = admin.post(
        reverse("pipeline-run", args=[pipeline["id"]]), {"digest": v1}, format="json"
    )
    assert started.status_code == 202, started.data
    run = _wait(tester, started.data["id"], lambda r: r["status"] in ("failed", "succeeded"), 120)
    assert run["status"] == "failed"
    failing, slow = _stage(run, "failing"), _stage(run, "slow")
    assert failing["status"] == "failed" and "exited with code 3" in failing["reason"]
    assert failing["results"]["junit"]["failed"] == ["broken"]
    assert slow["status"] == "failed" and "longer than 2 s" in slow["reason"]
    assert _stage(run, "deploy-test")["status"] == "succeeded"  # earlier results are kept
    assert _stage(run, "qa")["status"] == "skipped"
    assert _stage(run, "promote")["status"] == "skipped"
    assert not Promotion.objects.filter(digest=v1).exists()


def test_approval_rules_self_approval_quorum_rejection_and_expiry(
    celery_worker_thread, service, api_for, admin_user, versions, personas, environments
):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    v1, _ = versions
    service.repository = "demo/app"
    service.save()
    testers = Group.objects.get(name="Testers")
    qa2 = get_user_model().objects.create_user("qa2", "qa2@example.com", "x")
    qa3 = get_user_model().objects.create_user("qa3", "qa3@example.com", "x")
    for user in (qa2, qa3):
        user.groups.add(testers)
    admin = api_for("developer")
    admin.force_authenticate(admin_user)
    # Starts in Test: the tester may start it, and then may not approve it himself.
    text = _digest_pipeline(
        "  - {name: deploy-test, kind: deploy, environment: test}\n"
        "  - {name: qa, kind: approval, environment: test, min_approvers: 2, expires_after: 2}\n"
        "  - {name: soak, kind: test, environment: test, command: 'sleep 3'}\n"
        "  - {name: promote, kind: promote, environment: test}\n"
    )
    pipeline = _create(admin, service, text)
    tester = api_for("tester")
    started = tester.post(
        reverse("pipeline-run", args=[pipeline["id"]]), {"digest": v1}, format="json"
    )
    assert started.status_code == 202, started.data
    run_id = started.data["id"]
    _wait(tester, run_id, _waiting_at("qa"), 120)
    url = reverse("pipeline-run-approve", args=[run_id])
    own = tester.post(url, {"stage": "qa"}, format="json")
    assert own.status_code == 403 and "You started this run" in str(own.data)
    second, third = api_for("tester"), api_for("tester")
    second.force_authenticate(qa2)
    third.force_authenticate(qa3)
    assert second.post(url, {"stage": "qa"}, format="json").status_code == 200
    assert second.post(url, {"stage": "qa"}, format="json").status_code == 409  # counts once
    assert _stage(_run(tester, run_id), "qa")["status"] == "waiting"  # one of two
    assert third.post(url, {"stage": "qa"}, format="json").status_code == 200
    # The soak test outlives the approvals (2 s): the promote waits for new ones.
    run = _wait(tester, run_id, lambda r: _stage(r, "soak")["status"] == "succeeded"
                and r["status"] == "waiting", 60)  # fmt: skip
    assert _stage(run, "qa")["status"] == "waiting" and "expired" in _stage(run, "qa")["reason"]
    assert _stage(run, "promote")["status"] == "pending"
    assert not Promotion.objects.filter(digest=v1).exists()
    # One rejection ends the run at once.
    rejected = third.post(reverse("pipeline-run-reject", args=[run_id]),
                          {"stage": "qa", "note": "regression"}, format="json")  # fmt: skip
    assert rejected.status_code == 200, rejected.data
    run = _wait(tester, run_id, lambda r: r["status"] == "failed", 30)
    assert "rejected by qa3: regression" in run["reason"]
    assert _stage(run, "promote")["status"] == "skipped"
    assert not Promotion.objects.filter(digest=v1).exists()
    # The starter cannot undo the rejection by retrying the gate: a re-run asks anew.
    retried = tester.post(reverse("pipeline-run-retry", args=[run_id]), {"stage": "qa"}, format="json")  # fmt: skip
    assert retried.status_code == 409 and "a rejection ends the run" in str(retried.data)
    assert _run(tester, run_id)["status"] == "failed"
    # Decisions count in the attempt they were given in: a retried stage asks again.
    gate = StageRun.objects.get(run_id=run_id, name="qa")
    Approval.objects.create(stage=gate, user=qa2, approved=True, digest=gate.run.digest)
    assert [a.user for a in valid_approvals(gate)] == [qa2]
    gate.started_at = timezone.now() + timedelta(seconds=1)  # a later attempt
    assert valid_approvals(gate) == []


def _signed(secret: str, body: bytes, timestamp: int | None = None) -> dict:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"HTTP_X_BERTH_TIMESTAMP": stamp, "HTTP_X_BERTH_SIGNATURE": f"sha256={signature}"}


def test_a_signed_webhook_starts_a_run_and_bad_stale_or_replayed_ones_record_nothing(
    service, api_for, admin_user, environments, personas
):
    admin = api_for("developer")
    admin.force_authenticate(admin_user)
    pipeline = _create(
        admin, service, _digest_pipeline("  - {name: deploy-dev, kind: deploy, environment: dev}\n")
    )
    url, secret = reverse("pipeline-webhook", args=[pipeline["id"]]), pipeline["webhook_secret"]
    body = json.dumps({"digest": "sha256:" + "a" * 64, "user": "developer"}).encode()
    ci = APIClient()
    post = lambda headers, data=body: ci.generic("POST", url, data, "application/json", **headers)  # noqa: E731

    assert post(_signed("wrong", body)).status_code == 401
    assert post(_signed(secret, body, int(time.time()) - 301)).status_code == 401
    assert post({}).status_code == 401
    assert post(_signed(secret, body), body + b" ").status_code == 401  # body changed
    assert PipelineRun.objects.count() == 0 and WebhookDelivery.objects.count() == 0

    headers = _signed(secret, body)
    accepted = post(headers)
    assert accepted.status_code == 202, accepted.content
    run = PipelineRun.objects.get()
    assert run.trigger["kind"] == "webhook" and run.trigger["pushed_by"] == "developer"
    # Whoever holds the secret (created or rotated it) started the run too: without
    # self-approval, they may not approve it.
    assert run.starter_ids == {personas["developer"].pk, admin_user.pk}
    assert run.digest == "sha256:" + "a" * 64
    assert post(headers).status_code == 401  # a replay
    assert PipelineRun.objects.count() == 1

    rotated = admin.post(reverse("pipeline-rotate-secret", args=[pipeline["id"]]))
    assert rotated.status_code == 200 and rotated.data["webhook_secret"] != secret
    assert post(_signed(secret, body)).status_code == 401  # the old secret is gone
    assert PipelineRun.objects.count() == 1


BUILD_ONLY = """\
stages:
  - name: build
    kind: build
    environment: dev
    git: {{url: "{url}", ref: "{ref}"}}
    dockerfile: {dockerfile}
  - {{name: deploy-dev, kind: deploy, environment: dev}}
"""


@pytest.mark.parametrize(
    ("url", "ref", "dockerfile", "reason"),
    [
        ("REPO", "no-such-branch", "Dockerfile", "'no-such-branch' is not a branch, tag or commit"),
        ("/srv/nonexistent/repo.git", "main", "Dockerfile", "git clone failed"),  # a listed root
        # (A URL or ref git could misread is refused when the definition is saved:
        # tests/unit/test_pipeline_definition.py; the build refuses it again.)
        ("REPO", "main", "Missing.Dockerfile", "there is no Missing.Dockerfile"),
        ("REPO", "main", "Broken.Dockerfile", "docker build failed"),
    ],
)
def test_a_build_that_cannot_succeed_fails_its_stage_with_the_reason_and_deploys_nothing(
    celery_worker_thread,
    git_repo,
    service,
    api_for,
    admin_user,
    tmp_path,
    url,
    ref,
    dockerfile,
    reason,
):
    repo, _ = git_repo
    if dockerfile == "Broken.Dockerfile":  # a second commit on main with a failing step
        work = tmp_path / "broken"
        subprocess.run(["git", "clone", "--quiet", "-b", "main", repo, str(work)], check=True)
        (work / "Broken.Dockerfile").write_text(f"FROM {stack.TEST_IMAGE}\nRUN exit 7\n")
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(work)]
        subprocess.run([*git, "add", "."], check=True)
        subprocess.run([*git, "commit", "--quiet", "-m", "broken"], check=True)
        subprocess.run([*git, "push", "--quiet", "origin", "main"], check=True)
    admin = api_for("developer")
    admin.force_authenticate(admin_user)
    text = BUILD_ONLY.format(url=repo if url == "REPO" else url, ref=ref, dockerfile=dockerfile)
    pipeline = _create(admin, service, text)
    started = admin.post(reverse("pipeline-run", args=[pipeline["id"]]), {}, format="json")
    run = _wait(admin, started.data["id"], lambda r: r["status"] in ("failed", "succeeded"), 120)
    assert run["status"] == "failed"
    build = _stage(run, "build")
    assert build["status"] == "failed" and reason in build["reason"], build["reason"]
    assert _stage(run, "deploy-dev")["status"] == "skipped" and not run["digest"]


def test_a_failed_stage_is_retried_with_its_recorded_plan_and_digest(
    celery_worker_thread, service, api_for, admin_user, versions
):
    v1, _ = versions
    service.repository = "demo/app"
    service.save()
    admin = api_for("developer")
    admin.force_authenticate(admin_user)
    # The check fails until a moment a few seconds ahead; the retry comes after it.
    ready_at = int(time.time()) + 4
    command = f"test $(date +%s) -ge {ready_at}"
    text = _digest_pipeline(
        f"  - {{name: check, kind: test, environment: dev, command: '{command}'}}\n"
        "  - {name: deploy-dev, kind: deploy, environment: dev}\n"
    )
    pipeline = _create(admin, service, text)
    started = admin.post(
        reverse("pipeline-run", args=[pipeline["id"]]), {"digest": v1}, format="json"
    )
    run_id = started.data["id"]
    run = _wait(admin, run_id, lambda r: r["status"] in ("failed", "succeeded"), 60)
    assert run["status"] == "failed" and _stage(run, "check")["status"] == "failed"
    assert _stage(run, "deploy-dev")["status"] == "skipped"
    # A new revision does not change what the run follows.
    admin.post(reverse("pipeline-revisions", args=[pipeline["id"]]),
               {"text": text.replace("-ge", "-lt")}, format="json")  # fmt: skip
    time.sleep(max(0.0, ready_at - time.time() + 0.5))
    retried = admin.post(
        reverse("pipeline-run-retry", args=[run_id]), {"stage": "check"}, format="json"
    )
    assert retried.status_code == 202, retried.data
    run = _wait(admin, run_id, lambda r: r["status"] in ("failed", "succeeded"), 90)
    assert run["status"] == "succeeded", run["reason"]
    check = _stage(run, "check")
    assert check["attempt"] == 2 and check["plan"]["command"][-1] == command
    assert run["digest"] == v1 and run["revision"] == 1
    revisions = admin.get(reverse("pipeline-revisions", args=[pipeline["id"]])).data["results"]
    assert [r["revision"] for r in revisions] == [2, 1] and "+" in revisions[0]["diff"]
    assert f"-ge {ready_at}" in revisions[0]["diff"] and f"-lt {ready_at}" in revisions[0]["diff"]

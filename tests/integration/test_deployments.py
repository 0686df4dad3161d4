"""Deployments against the real Docker Engine with a real Celery worker: every strategy
succeeding, every strategy failing its health check with the old version still
serving, rollback, conflicts, protected environments and bad input."""

import pytest
from django.urls import reverse

from environments import actions
from environments.deploying import runner
from environments.models import Deployment
from tests import stack
from tests.integration.conftest import owned, serving, wait_finished

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _deploy(api, service, environment, digest, **extra):
    return api.post(
        reverse("deployment-list"),
        {"service": service.name, "environment": environment, "digest": digest} | extra,
        format="json",
    )


def _set_strategy(service, environment, personas, **changes):
    document = dict(service.current_config(environment).document, **changes)
    return actions.save_config(personas["developer"], service, environment, document)


def _ports(service, environment):
    config = service.current_config(environment).document
    return [config["port"] + slot for slot in range(config["replicas"])]


def _first(api, service, environments, digest):
    response = _deploy(api, service, "dev", digest)
    assert response.status_code == 202, response.data
    deployment = wait_finished(Deployment.objects.get(pk=response.data["id"]))
    assert deployment.status == "succeeded", deployment.reason
    return deployment


def test_a_named_volume_is_each_environment_s_own(
    web_service, versions, environments, personas, api_for, celery_worker_thread
):
    """The same volume name in Dev and Test is two engine volumes: what Dev wrote there,
    Test never reads (so neither does Dev read Ops' data), and Dev reads it again on its
    next deployment. Each replica serves at /who what it found in the volume."""
    import docker
    import requests

    v1, v2 = versions
    record = (
        "busybox mkdir -p /www && echo ok > /www/health && "
        "(cat /data/who > /www/who 2>/dev/null || echo none > /www/who) && echo $WHO > /data/who && "
        "exec httpd -f -p 127.0.0.1:$PORT -h /www"
    )
    document = {
        "replicas": 1, "command": ["sh", "-c", record], "volumes": ["shop-data:/data"],
        "health_check": {"http_path": "/health", "interval": 0.5, "timeout": 1, "retries": 2},
        "strategy": {"type": "recreate"}, "stop_grace_period": 1,
    }  # fmt: skip
    where = {"dev": (personas["developer"], "developer"), "test": (personas["tester"], "tester")}
    client = docker.DockerClient(base_url=environments["dev"].endpoint_url, version="auto")

    def deploy_and_read(slug: str, digest: str) -> str:
        user, persona = where[slug]
        port = stack.free_port_base(1)
        config = dict(document, port=port, env={"WHO": slug})
        actions.save_config(user, web_service, environments[slug], config)
        response = _deploy(api_for(persona), web_service, slug, digest)
        assert response.status_code == 202, response.data
        deployment = wait_finished(Deployment.objects.get(pk=response.data["id"]))
        assert deployment.status == "succeeded", deployment.reason
        (container,) = client.containers.list(
            filters={"label": [f"berth.service={web_service.name}", f"berth.environment={slug}"]}
        )
        assert [(m["Type"], m["Name"]) for m in container.attrs["Mounts"]] == [
            ("volume", f"berth.{slug}.shop-data")
        ]
        return requests.get(f"http://127.0.0.1:{port}/who", timeout=5).text.strip()

    try:
        assert deploy_and_read("dev", v1) == "none"
        assert deploy_and_read("test", v1) == "none"  # not Dev's data
        assert deploy_and_read("dev", v2) == "dev"  # Dev's own, kept between deployments
    finally:
        for container in owned(environments["dev"], web_service):
            container.remove(force=True)
        for slug in where:
            for volume in client.volumes.list(filters={"name": f"berth.{slug}.shop-data"}):
                volume.remove(force=True)
        client.close()


@pytest.mark.parametrize("strategy", ["rolling", "blue-green", "recreate"])
def test_each_strategy_replaces_the_old_version(
    strategy, web_service, versions, environments, personas, api_for, celery_worker_thread
):
    v1, v2 = versions
    dev = environments["dev"]
    _set_strategy(web_service, dev, personas, strategy={"type": strategy})
    api = api_for("developer")
    _first(api, web_service, environments, v1)
    deployment = _first(api, web_service, environments, v2)

    containers = owned(dev, web_service)
    assert len(containers) == 2, [c.name for c in containers]
    assert {c.labels["berth.deployment"] for c in containers} == {str(deployment.pk)}
    assert all(c.status == "running" for c in containers)
    ports = sorted(int(c.labels["berth.port"]) for c in containers)
    assert all(serving(port) for port in ports)
    kinds = [e.message for e in deployment.events.order_by("seq")]
    assert kinds[0] == "Queued" and kinds[-1] == "Deployment succeeded"
    assert any("Replica 2 of 2 is healthy" in k for k in kinds)


@pytest.mark.parametrize("strategy", ["rolling", "blue-green", "recreate"])
def test_a_failing_health_check_leaves_the_old_version_serving(
    strategy, web_service, versions, environments, personas, api_for, celery_worker_thread
):
    v1, v2 = versions
    dev = environments["dev"]
    _set_strategy(web_service, dev, personas, strategy={"type": strategy})
    api = api_for("developer")
    first = _first(api, web_service, environments, v1)
    before = sorted(c.id for c in owned(dev, web_service))

    config = web_service.current_config(dev).document
    _set_strategy(
        web_service, dev, personas, health_check=dict(config["health_check"], http_path="/missing")
    )
    response = _deploy(api, web_service, "dev", v2)
    failed = wait_finished(Deployment.objects.get(pk=response.data["id"]))

    assert failed.status == "failed"
    assert "did not become healthy" in failed.reason or "failed its health check" in failed.reason
    after = owned(dev, web_service)
    assert sorted(c.id for c in after) == before, "new containers left behind or old ones removed"
    assert all(
        c.status == "running" and c.labels["berth.deployment"] == str(first.pk) for c in after
    )
    assert all(serving(port) for port in _ports(web_service, dev))


def test_rollback_redeploys_the_previous_digest_and_revision(
    web_service, versions, environments, api_for, celery_worker_thread
):
    v1, v2 = versions
    api = api_for("developer")
    first = _first(api, web_service, environments, v1)
    second = _first(api, web_service, environments, v2)
    response = api.post(reverse("deployment-rollback", args=[second.pk]), {}, format="json")
    assert response.status_code == 202, response.data
    rolled = wait_finished(Deployment.objects.get(pk=response.data["id"]))
    assert rolled.status == "succeeded" and rolled.rollback_of_id == second.pk
    assert (rolled.digest, rolled.config_id) == (first.digest, first.config_id)
    assert {c.labels["berth.deployment"] for c in owned(environments["dev"], web_service)} == {
        str(rolled.pk)
    }


def test_a_second_deploy_while_one_is_active_is_a_409_naming_it(web_service, versions, api_for):
    v1, v2 = versions
    api = api_for("developer")
    first = _deploy(api, web_service, "dev", v1)  # no worker: it stays pending
    second = _deploy(api, web_service, "dev", v2)
    assert second.status_code == 409
    assert second.data["active_deployment"] == first.data["id"]
    assert f"Deployment #{first.data['id']}" in second.data["detail"]
    assert Deployment.objects.count() == 1


def test_a_redelivered_task_does_not_deploy_twice(
    web_service, versions, environments, api_for, celery_worker_thread
):
    v1, _ = versions
    deployment = _first(api_for("developer"), web_service, environments, v1)
    events = deployment.events.count()
    runner.run_deployment(deployment.pk)  # the same task delivered again
    deployment.refresh_from_db()
    assert deployment.status == "succeeded" and deployment.events.count() == events
    assert len(owned(environments["dev"], web_service)) == 2


def test_a_deployment_whose_worker_died_is_failed_by_the_reaper(web_service, versions, settings):
    from django.utils import timezone

    v1, _ = versions
    deployment = Deployment.objects.create(
        service=web_service, environment=web_service.configs.first().environment, digest=v1,
        config=web_service.configs.first(), strategy="rolling", status="running",
        started_at=timezone.now(), heartbeat_at=timezone.now() - timezone.timedelta(seconds=120),
    )  # fmt: skip
    settings.DEPLOYMENT_STALE_AFTER = 60
    assert runner.reap_stale_deployments() == [deployment.pk]
    deployment.refresh_from_db()
    assert deployment.status == "failed" and "stopped reporting" in deployment.reason


def test_a_protected_environment_needs_confirmation_and_a_promoted_digest(
    web_service, versions, environments, personas, api_for
):
    v1, _ = versions
    ops = environments["ops"]
    dev_config = web_service.current_config(environments["dev"]).document
    # Ops shares the engine with Dev here: its replicas bind ports of their own.
    actions.save_config(
        personas["operator"], web_service, ops, dict(dev_config, port=dev_config["port"] + 300)
    )
    api = api_for("operator")
    response = _deploy(api, web_service, "ops", v1)
    assert response.status_code == 400 and "Ops is protected: confirm" in str(
        response.data["confirm"]
    )
    response = _deploy(api, web_service, "ops", v1, confirm=True)
    assert response.status_code == 400 and "only runs digests promoted into it" in str(
        response.data["digest"]
    )
    assert not Deployment.objects.exists()


@pytest.mark.parametrize(
    "document,field,message",
    [
        ({"replicas": -1}, "replicas", "out of range"),
        ({"port": 80}, "port", "out of range"),
        ({"memory": "lots"}, "memory", "is not a memory size"),
        ({"env": {"1BAD": "x"}}, "env.1BAD", "Not a valid variable name"),
        ({"replica": 2}, "replica", "Unknown field"),
        ({"strategy": {"type": "canary"}}, "strategy.type", "is not a strategy"),
        ({"volumes": ["nocolon"]}, "volumes.0", "use name:/path"),
    ],
)
def test_an_invalid_config_names_the_field(web_service, api_for, document, field, message):
    response = api_for("developer").post(
        reverse("service-configs", args=[web_service.pk]),
        {"environment": "dev", "document": document},
        format="json",
    )
    assert response.status_code == 400
    assert message in str(response.data[field])
    assert web_service.configs.count() == 1


def test_a_digest_not_in_the_registry_is_refused(web_service, api_for):
    response = _deploy(api_for("developer"), web_service, "dev", "sha256:" + "0" * 64)
    assert response.status_code == 400 and "is not in the registry" in str(response.data["digest"])
    assert not Deployment.objects.exists()


def test_secret_env_values_are_masked_and_kept(web_service, environments, personas, api_for):
    api = api_for("developer")
    document = dict(
        web_service.current_config(environments["dev"]).document,
        env={"DB_PASSWORD": "hunter2", "MODE": "qa"},
        secret_env=["DB_PASSWORD"],
    )
    response = api.post(
        reverse("service-configs", args=[web_service.pk]),
        {"environment": "dev", "document": document},
        format="json",
    )
    assert (
        response.status_code == 201
        and response.data["document"]["env"]["DB_PASSWORD"] == "********"
    )
    masked = dict(response.data["document"], env={"DB_PASSWORD": "********", "MODE": "prod"})
    response = api.post(
        reverse("service-configs", args=[web_service.pk]),
        {"environment": "dev", "document": masked},
        format="json",
    )
    assert response.status_code == 201
    stored = web_service.current_config(environments["dev"]).document
    assert stored["env"] == {"DB_PASSWORD": "hunter2", "MODE": "prod"}
    assert "hunter2" not in str(api.get(reverse("service-configs", args=[web_service.pk])).data)


def test_a_config_exported_as_yaml_imports_back_unchanged(
    web_service, environments, personas, api_for
):
    api = api_for("developer")
    document = dict(
        web_service.current_config(environments["dev"]).document,
        env={"TOKEN": "s3cr3t"},
        secret_env=["TOKEN"],
    )
    actions.save_config(personas["developer"], web_service, environments["dev"], document)
    exported = api.get(
        reverse("service-export", args=[web_service.pk]), {"environment": "dev", "syntax": "yaml"}
    )
    assert exported.status_code == 200 and "s3cr3t" not in exported.content.decode()
    assert exported["Content-Disposition"].endswith(f'{web_service.name}-dev.yaml"')
    text = exported.content.decode().replace("replicas: 2", "replicas: 3")
    response = api.post(
        reverse("service-configs", args=[web_service.pk]),
        {"environment": "dev", "text": text, "syntax": "yaml"},
        format="json",
    )
    assert response.status_code == 201, response.data
    stored = web_service.current_config(environments["dev"]).document
    assert stored["replicas"] == 3 and stored["env"]["TOKEN"] == "s3cr3t"


def test_a_broken_import_says_where(web_service, api_for):
    response = api_for("developer").post(
        reverse("service-configs", args=[web_service.pk]),
        {"environment": "dev", "text": "replicas: [", "syntax": "yaml"},
        format="json",
    )
    assert response.status_code == 400 and "Cannot parse the YAML document" in str(response.data)


def test_an_unreachable_engine_fails_the_deployment_with_the_reason(
    web_service, versions, environments, admin_user, api_for, celery_worker_thread
):
    from environments import actions

    actions.update_environment(admin_user, environments["dev"], endpoint_url="tcp://127.0.0.1:1")
    response = _deploy(api_for("developer"), web_service, "dev", versions[0])
    failed = wait_finished(Deployment.objects.get(pk=response.data["id"]))
    assert failed.status == "failed" and "Cannot reach the Docker endpoint of Dev" in failed.reason


def test_stop_and_restart_are_recorded_operations_on_every_replica(
    web_service, versions, environments, personas, api_for, celery_worker_thread
):
    api = api_for("developer")
    _first(api, web_service, environments, versions[0])
    url = reverse("service-stop", args=[web_service.pk])
    response = api.post(url, {"environment": "dev"}, format="json")
    assert response.status_code == 202 and response.data["action"] == "stop"
    stopped = wait_finished(Deployment.objects.get(pk=response.data["id"]))
    assert stopped.status == "succeeded", stopped.reason
    assert [c.status for c in owned(environments["dev"], web_service)] == ["exited", "exited"]
    assert stopped.events.filter(data__state="exited").count() == 2

    response = api.post(
        reverse("service-restart", args=[web_service.pk]), {"environment": "dev"}, format="json"
    )
    assert response.status_code == 202
    restarted = wait_finished(Deployment.objects.get(pk=response.data["id"]))
    assert restarted.status == "succeeded", restarted.reason
    assert all(serving(port) for port in _ports(web_service, environments["dev"]))
    # Neither operation is a deployment to roll back to.
    assert Deployment.objects.last_succeeded(web_service, environments["dev"]).action == "deploy"


def test_stop_of_a_service_never_deployed_there_is_refused(web_service, environments, api_for):
    response = api_for("developer").post(
        reverse("service-stop", args=[web_service.pk]), {"environment": "dev"}, format="json"
    )
    assert response.status_code == 400
    assert "never been deployed" in str(response.data)
    assert not Deployment.objects.exists()


def test_a_replica_that_cannot_start_leaves_no_container_and_a_readable_reason(
    web_service, versions, environments, personas, api_for, celery_worker_thread
):
    v1, _ = versions
    _set_strategy(web_service, environments["dev"], personas, command=["htpd", "-f"])
    response = _deploy(api_for("developer"), web_service, "dev", v1)
    assert response.status_code == 202, response.data
    deployment = wait_finished(Deployment.objects.get(pk=response.data["id"]))
    assert deployment.status == "failed"
    assert deployment.reason.startswith("Replica 1 of 2 could not start (")
    assert "the command 'htpd' is not in the image" in deployment.reason
    assert "runc" not in deployment.reason and "OCI runtime" not in deployment.reason
    replica_states = [e.data.get("state") for e in deployment.events.filter(kind="replica")]
    assert replica_states[-1] == "failed", replica_states  # not "starting" forever
    assert owned(environments["dev"], web_service) == [], "a Created container was left"

"""The audit log: written by domain functions, scrubbed, append-only, restricted."""

import pytest
from django.urls import reverse

from environments import actions
from portal.core.audit import scrub
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_it_removes_secrets_at_any_depth():
    cleaned = scrub({"name": "x", "password": "p", "nested": [{"tls_client_key": "k", "ok": 1}]})
    assert cleaned == {
        "name": "x",
        "password": "***",
        "nested": [{"tls_client_key": "***", "ok": 1}],
    }


def test_changing_an_environment_is_audited_without_the_tls_key(environments, personas, admin_user):
    actions.update_environment(
        admin_user,
        environments["ops"],
        endpoint_url="tcp://127.0.0.1:2376",
        tls_client_cert="-----BEGIN CERTIFICATE-----\nx",
        tls_client_key="-----BEGIN PRIVATE KEY-----\nsecret-material",
    )
    event = AuditEvent.objects.filter(action="environment.update").get()
    assert event.actor == admin_user
    assert event.environment == environments["ops"]
    assert event.details["changed"]["tls_client_key"] == "***"
    assert "secret-material" not in str(event.details)


def test_events_cannot_be_changed_or_deleted(environments):
    event = AuditEvent.objects.first()
    event.action = "forged"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).update(action="forged")


def test_the_api_refuses_to_change_events(environments, api_for):
    event = AuditEvent.objects.filter(environment=environments["dev"]).first()
    client = api_for("operator")
    url = reverse("audit-event-detail", args=[event.pk])
    assert client.patch(url, {"action": "x"}, format="json").status_code == 405
    assert client.delete(url).status_code == 405


def test_each_user_sees_only_events_of_environments_they_can_view(environments, api_for):
    response = api_for("developer").get(reverse("audit-event-list"), {"limit": 500})
    seen = {e["environment_name"] for e in response.data["results"]}
    assert seen == {"Dev", "Test"}
    response = api_for("stranger").get(reverse("audit-event-list"))
    assert response.data["count"] == 0


def test_the_source_address_of_the_request_is_recorded(environments, api_for):
    api_for("operator").patch(
        reverse("environment-detail", args=[environments["ops"].pk]),
        {"description": "from the api"},
        format="json",
        REMOTE_ADDR="127.0.0.9",
    )
    event = AuditEvent.objects.filter(action="environment.update").get()
    assert event.source_ip == "127.0.0.9"
    assert event.actor_name == "operator"


def test_the_admin_offers_no_way_to_change_events(admin_client, environments):
    event = AuditEvent.objects.first()
    page = admin_client.get(reverse("admin:portal_auditevent_change", args=[event.pk]))
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert (
        admin_client.get(reverse("admin:portal_auditevent_delete", args=[event.pk])).status_code
        == 403
    )

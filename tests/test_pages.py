"""Browser pages through Django's test client: the same access rules as the API."""

import re

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from environments.models import RoleGrant

pytestmark = pytest.mark.django_db


def _login(client, personas, persona):
    client.force_login(personas[persona])
    return client


def test_the_dashboard_lists_only_environments_the_user_can_view(client, personas):
    page = _login(client, personas, "developer").get(reverse("dashboard")).content.decode()
    assert ">Dev</a>" in page and ">Test</a>" in page
    assert ">Ops</a>" not in page


def test_the_dashboard_tells_a_user_without_roles_what_to_do(client, personas):
    page = _login(client, personas, "stranger").get(reverse("dashboard")).content.decode()
    assert "Ask an environment manager to grant you a role" in page


def test_an_environment_outside_ones_roles_looks_like_a_missing_one(client, personas):
    _login(client, personas, "developer")
    forbidden = client.get(reverse("env-page", args=["ops"]))
    missing = client.get(reverse("env-page", args=["nowhere"]))
    assert forbidden.status_code == missing.status_code == 404
    # Identical but for the per-response CSRF mask of the logout form.
    unmask = lambda page: re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", page)  # noqa: E731
    assert unmask(forbidden.content) == unmask(missing.content)
    assert b"Traceback" not in forbidden.content


def test_anonymous_users_are_sent_to_the_login_page(client, environments):
    response = client.get(reverse("env-page", args=["dev"]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_only_managers_reach_the_access_page(client, personas):
    _login(client, personas, "tester")
    assert client.get(reverse("env-access", args=["ops"])).status_code == 403
    _login(client, personas, "operator")
    assert client.get(reverse("env-access", args=["ops"])).status_code == 200


def test_an_operator_grants_and_revokes_a_role_from_the_access_page(client, personas):
    _login(client, personas, "operator")
    Group.objects.create(name="Auditors")
    response = client.post(
        reverse("env-grant", args=["ops"]),
        {"principal": "group:Auditors", "role": "tester"},
        follow=True,
    )
    assert b"Granted Tester to group Auditors" in response.content
    grant = RoleGrant.objects.get(group__name="Auditors")
    assert grant.actions == ["view_environment"]
    response = client.post(reverse("env-revoke", args=["ops", grant.pk]), follow=True)
    assert b"Revoked Tester from group Auditors" in response.content
    assert not RoleGrant.objects.filter(group__name="Auditors").exists()


def test_a_manager_cannot_hand_out_more_than_they_hold(client, personas):
    _login(client, personas, "operator")
    response = client.post(
        reverse("env-grant", args=["ops"]),
        {"principal": "user:stranger", "role": "admin"},
        follow=True,
    )
    assert b"You cannot grant actions you do not hold in Ops" in response.content
    assert not RoleGrant.objects.filter(user=personas["stranger"]).exists()


def test_a_role_that_gives_nothing_in_this_tier_is_refused(client, personas):
    _login(client, personas, "operator")
    response = client.post(
        reverse("env-grant", args=["ops"]),
        {"principal": "user:stranger", "role": "developer"},
        follow=True,
    )
    assert b"The Developer role gives nothing in a production environment" in response.content


def test_revoking_a_grant_removes_the_access_it_gave(client, personas, environments, admin_user):
    from environments import access, actions

    grant = actions.grant_role(
        admin_user, environments["ops"], role="operator", to_user=personas["stranger"]
    )
    assert access.can(personas["stranger"], environments["ops"], "deploy_to_environment")
    actions.revoke_grant(admin_user, grant)
    assert not access.can(personas["stranger"], environments["ops"], "view_environment")


def test_an_unreachable_endpoint_shows_the_reason_in_the_page(
    client, personas, environments, admin_user
):
    from environments import actions

    ops = actions.update_environment(
        admin_user, environments["ops"], endpoint_url="tcp://127.0.0.1:1"
    )
    _login(client, personas, "operator")
    # The page never waits on the engine: it shows the last probe, and queues one.
    first = client.get(reverse("env-endpoint-fragment", args=["ops"])).content.decode()
    assert "not checked yet" in first
    actions.refresh_endpoint_state(ops)  # what the queued probe task does
    endpoint = client.get(reverse("env-endpoint-fragment", args=["ops"])).content.decode()
    assert "unreachable" in endpoint and "connection refused" in endpoint
    containers = client.get(reverse("env-containers-fragment", args=["ops"]))
    assert containers.status_code == 200
    assert "Cannot reach the Docker endpoint of Ops" in containers.content.decode()


@pytest.mark.parametrize("path", ["/api/no-such-thing/", "/api/services/x/y/z/", "/api/v2/"])
def test_an_unknown_api_route_answers_json_not_a_page(client, personas, path):
    response = _login(client, personas, "developer").get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "There is nothing here, or you do not have access to it."}


def test_an_unknown_page_is_still_the_page(client, personas):
    response = _login(client, personas, "developer").get("/no-such-page/")
    assert response.status_code == 404 and "text/html" in response["Content-Type"]
    assert "There is nothing here" in response.content.decode()

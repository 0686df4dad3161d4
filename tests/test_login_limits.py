"""Failed sign-ins are limited per account and per client address, on the login page and
the token endpoint; X-Forwarded-For counts only behind declared proxies."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import reverse
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

LIMIT = 10  # BERTH_LOGIN_FAILURE_LIMIT's default


def _token(client, username, password, **headers):
    return client.post(
        reverse("api-token"),
        {"username": username, "password": password, "name": "ci"},
        format="json",
        **headers,
    )


def test_the_login_page_locks_an_account_after_repeated_failures(client, personas):
    personas["developer"].set_password("right password")
    personas["developer"].save()
    for _ in range(LIMIT):
        client.post(reverse("login"), {"username": "developer", "password": "wrong"})
    locked = client.post(reverse("login"), {"username": "developer", "password": "right password"})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_token_endpoint_refuses_after_repeated_failures_whatever_the_header(personas):
    personas["tester"].set_password("right password")
    personas["tester"].save()
    api = APIClient()
    for attempt in range(LIMIT):
        # A client cannot reset its count by inventing addresses.
        response = _token(api, "tester", "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{attempt}")
        assert response.status_code == (401 if attempt < LIMIT - 1 else 429)  # the last locks
    response = _token(api, "tester", "right password", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.data["detail"]


def test_other_accounts_still_sign_in_below_the_address_limit(personas):
    personas["operator"].set_password("right password")
    personas["operator"].save()
    api = APIClient()
    for _ in range(3):
        assert _token(api, "tester", "wrong").status_code == 401
    assert _token(api, "operator", "right password").status_code == 201


@override_settings(TRUSTED_PROXIES=1)
def test_behind_a_declared_proxy_the_forwarded_address_counts(personas):
    from portal.core.client_ip import client_ip

    class Request:
        META = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 192.0.2.10"}

    assert client_ip(Request()) == "192.0.2.10"  # the proxy's view; the rest is the client's

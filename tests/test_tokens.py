"""API tokens: exchanged for a password, used, revoked, never stored in clear."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from portal.core.tokens import TOUCH_INTERVAL, authenticate_token
from portal.models import ApiToken

pytestmark = pytest.mark.django_db


def _obtain(username, password):
    return APIClient().post(
        reverse("api-token"), {"username": username, "password": password}, format="json"
    )


def test_a_password_is_exchanged_for_a_working_token(personas):
    response = _obtain("developer", "developer-pass")
    assert response.status_code == 201
    secret = response.data["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    environments = client.get(reverse("environment-list")).data["results"]
    assert [e["name"] for e in environments] == ["Dev", "Test"]
    stored = ApiToken.objects.get(pk=response.data["id"])
    assert secret not in (stored.key_hash, stored.prefix)


def test_a_wrong_password_gets_no_token(personas):
    response = _obtain("developer", "nope")
    assert response.status_code == 401
    assert response.data["detail"] == "Wrong username or password."
    assert not ApiToken.objects.exists()


def test_a_revoked_token_is_refused_with_a_clear_message(personas):
    secret = _obtain("tester", "tester-pass").data["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    token_id = client.get(reverse("token-list")).data["results"][0]["id"]
    assert client.delete(reverse("token-detail", args=[token_id])).status_code == 204
    response = client.get(reverse("environment-list"))
    assert response.status_code == 401
    assert response.data["detail"] == "Invalid or revoked API token."


def test_the_profile_page_creates_shows_once_and_revokes(client, personas):
    client.force_login(personas["operator"])
    response = client.post(reverse("token-create"), {"name": "jenkins"}, follow=True)
    secret = ApiToken.objects.get(name="jenkins")
    assert b"will not be shown again" in response.content
    assert b"berth_" in response.content
    assert b"berth_" not in client.get(reverse("profile")).content.replace(
        secret.prefix.encode(), b""
    )
    response = client.post(reverse("token-revoke", args=[secret.pk]), follow=True)
    assert b"Token revoked" in response.content
    assert not ApiToken.objects.exists()


def test_one_cannot_revoke_someone_elses_token_from_the_profile(client, personas):
    secret = _obtain("tester", "tester-pass").data
    client.force_login(personas["developer"])
    response = client.post(reverse("token-revoke", args=[secret["id"]]), follow=True)
    assert b"does not exist" in response.content
    assert ApiToken.objects.filter(pk=secret["id"]).exists()


def test_a_token_of_a_deactivated_account_is_refused(personas):
    secret = _obtain("tester", "tester-pass").data["token"]
    personas["tester"].is_active = False
    personas["tester"].save(update_fields=["is_active"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    assert client.get(reverse("environment-list")).status_code == 401


def test_the_token_names_its_own_user_and_no_other(personas):
    secrets = {
        name: _obtain(name, f"{name}-pass").data["token"] for name in ("developer", "tester")
    }
    for name, secret in secrets.items():
        assert authenticate_token(secret) == personas[name]
    assert authenticate_token(secrets["tester"][:-1] + "x") is None
    assert authenticate_token("not-a-berth-token") is None


def test_last_use_is_written_at_most_once_a_minute(personas):
    response = _obtain("tester", "tester-pass")
    secret, token = response.data["token"], ApiToken.objects.get(pk=response.data["id"])
    assert token.last_used_at is None
    authenticate_token(secret)
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None and timezone.now() - first < timedelta(seconds=5)
    authenticate_token(secret)  # within the minute: not written again
    token.refresh_from_db()
    assert token.last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - TOUCH_INTERVAL * 2)
    authenticate_token(secret)  # over a minute ago: written
    token.refresh_from_db()
    assert token.last_used_at > first

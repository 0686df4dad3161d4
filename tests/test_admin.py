"""Every model has a working admin page."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

pytestmark = pytest.mark.django_db

BERTH_APPS = {"portal", "environments", "registry", "pipelines"}


def test_every_berth_model_is_in_the_admin():
    missing = [
        model._meta.label
        for app in BERTH_APPS
        for model in apps.get_app_config(app).get_models()
        if model not in admin.site._registry
    ]
    assert not missing


@pytest.mark.parametrize(
    "model",
    [m for m in admin.site._registry if m._meta.app_label in BERTH_APPS],
    ids=lambda m: m._meta.label,
)
def test_the_admin_list_of_each_model_opens(admin_client, personas, model):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    assert admin_client.get(url).status_code == 200

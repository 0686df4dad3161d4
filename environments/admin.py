"""Django admin for environments. Writes go through the domain functions so that the
admin, the portal and the API audit and validate alike."""

import json

from django import forms
from django.contrib import admin

from environments import actions
from environments.deploying import config as config_schema
from environments.models import (
    Deployment,
    DeploymentEvent,
    EntryPoint,
    Environment,
    EnvironmentGroupObjectPermission,
    EnvironmentUserObjectPermission,
    ExecSession,
    Favourite,
    ProxyServer,
    RoleGrant,
    Service,
    ServiceConfig,
)
from portal.admin import DomainAdmin, ReadOnlyAdmin


class EnvironmentForm(forms.ModelForm):
    tls_client_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="PEM client key. Leave empty to keep the stored key.",
    )

    class Meta:
        model = Environment
        fields = list(Environment.EDITABLE_FIELDS)

    def clean_tls_client_key(self):
        key = self.cleaned_data["tls_client_key"]
        return key or (self.instance.tls_client_key if self.instance.pk else "")


@admin.register(Environment)
class EnvironmentAdmin(DomainAdmin):
    form = EnvironmentForm
    list_display = ["name", "slug", "position", "tier", "protected", "mode", "endpoint_url"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["endpoint_state", "endpoint_checked_at"]

    domain_fields = Environment.EDITABLE_FIELDS
    domain_create = staticmethod(actions.create_environment)
    domain_update = staticmethod(actions.update_environment)
    domain_delete = staticmethod(actions.delete_environment)


@admin.register(RoleGrant)
class RoleGrantAdmin(admin.ModelAdmin):
    list_display = ["environment", "user", "group", "role", "actions", "granted_by", "created_at"]
    list_filter = ["environment", "role"]
    fields = ["environment", "user", "group", "role", "actions"]

    def has_change_permission(self, request, obj=None):
        return False  # replace a grant by granting again

    def save_model(self, request, obj, form, change):
        grant = actions.grant_role(
            request.user,
            obj.environment,
            role=obj.role,
            to_user=obj.user,
            to_group=obj.group,
            actions=obj.actions or None,
        )
        obj.pk = grant.pk

    def delete_model(self, request, obj):
        actions.revoke_grant(request.user, obj)

    def delete_queryset(self, request, queryset):
        for grant in queryset:
            actions.revoke_grant(request.user, grant)


class DerivedPermissionAdmin(ReadOnlyAdmin):
    """Permission rows are derived from role grants: shown, never edited here."""

    list_display = ["content_object", "permission"]


admin.site.register(EnvironmentUserObjectPermission, DerivedPermissionAdmin)
admin.site.register(EnvironmentGroupObjectPermission, DerivedPermissionAdmin)


@admin.register(Service)
class ServiceAdmin(ReadOnlyAdmin):
    """Services are created and configured in the portal or the API, which validate and
    audit; renaming one here would orphan its containers."""

    list_display = ["name", "registry", "repository", "created_by", "created_at"]
    search_fields = ["name", "repository"]


class RecordAdmin(ReadOnlyAdmin):
    """Config revisions, deployments and their events are history: read-only here.
    New revisions and deployments go through the portal or the API, which check and audit."""

    list_display: list[str] = []


@admin.register(ServiceConfig)
class ServiceConfigAdmin(RecordAdmin):
    list_display = ["service", "environment", "revision", "created_by", "created_at"]
    list_filter = ["environment"]
    exclude = ["document"]
    readonly_fields = ["masked_document"]

    @admin.display(description="Document (secret values masked)")
    def masked_document(self, revision: ServiceConfig) -> str:
        return json.dumps(config_schema.mask_secrets(revision.document), indent=2)


@admin.register(Deployment)
class DeploymentAdmin(RecordAdmin):
    list_display = [
        "id",
        "service",
        "environment",
        "digest",
        "strategy",
        "status",
        "actor",
        "created_at",
    ]
    list_filter = ["status", "environment", "strategy"]


@admin.register(DeploymentEvent)
class DeploymentEventAdmin(RecordAdmin):
    list_display = ["deployment", "seq", "at", "kind", "message"]


@admin.register(ExecSession)
class ExecSessionAdmin(RecordAdmin):
    list_display = [
        "id",
        "username",
        "environment",
        "container_name",
        "command",
        "started_at",
        "ended_at",
        "exit_code",
        "end_reason",
    ]
    list_filter = ["environment"]


@admin.register(EntryPoint)
class EntryPointAdmin(RecordAdmin):
    """Claimed when a config is saved; the config is where they change."""

    list_display = ["service", "environment", "port", "host"]
    list_filter = ["environment"]


@admin.register(ProxyServer)
class ProxyServerAdmin(RecordAdmin):
    """The traffic proxy's servers as Berth last set them; deployments change them."""

    list_display = ["name", "service", "environment", "port", "colour", "state", "weight"]
    list_filter = ["environment", "state"]


@admin.register(Favourite)
class FavouriteAdmin(ReadOnlyAdmin):
    """People's stars: made and removed on their dashboard (a star only of what they see)."""

    list_display = ["user", "environment", "service", "created_at"]

from django.contrib import admin

from portal.models import ApiToken, AuditEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records Berth writes itself (audit events, promotions, deployments, derived
    permissions): shown, never added, edited or deleted here, so the admin cannot
    bypass the domain functions."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The audit log is append-only, in the admin too."""

    list_display = [
        "created_at",
        "actor_name",
        "action",
        "target_repr",
        "environment_name",
        "source_ip",
    ]
    list_filter = ["action", "environment_name"]
    search_fields = ["actor_name", "target_repr", "action"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at"]
    readonly_fields = ["user", "name", "prefix", "key_hash", "created_at", "last_used_at"]

    def has_add_permission(self, request):
        return False

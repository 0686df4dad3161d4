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


class DomainAdmin(admin.ModelAdmin):
    """Admin pages whose writes go through the domain functions, so the admin validates
    and audits like the API. Subclasses name the functions and the fields they take."""

    domain_fields: tuple[str, ...] = ()

    def domain_create(self, user, **fields):
        raise NotImplementedError

    def domain_update(self, user, obj, **changes):
        raise NotImplementedError

    def domain_delete(self, user, obj) -> None:
        raise NotImplementedError

    def save_model(self, request, obj, form, change):
        fields = {f: form.cleaned_data[f] for f in self.domain_fields if f in form.cleaned_data}
        if change:
            changed = {f: fields[f] for f in form.changed_data if f in fields}
            saved = self.domain_update(request.user, type(obj).objects.get(pk=obj.pk), **changed)
        else:
            saved = self.domain_create(request.user, **fields)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        self.domain_delete(request.user, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.domain_delete(request.user, obj)


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

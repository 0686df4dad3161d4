"""Django admin for registries: writes through the domain functions; records read-only."""

from django import forms
from django.contrib import admin

from portal.admin import DomainAdmin, ReadOnlyAdmin
from registry import actions
from registry.models import Image, Promotion, Registry, Repository, Tag, TagLock


class RegistryForm(forms.ModelForm):
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the stored password.",
    )

    class Meta:
        model = Registry
        fields = ["name", "url", "username", "password", "verify_tls"]

    def clean_password(self):
        return self.cleaned_data["password"] or (self.instance.password if self.instance.pk else "")


@admin.register(Registry)
class RegistryAdmin(DomainAdmin):
    """Writes go through the domain functions, so the admin validates and audits like
    the API."""

    form = RegistryForm
    list_display = ["name", "url", "username", "verify_tls"]

    domain_fields = tuple(RegistryForm.Meta.fields)
    domain_create = staticmethod(actions.create_registry)
    domain_update = staticmethod(actions.update_registry)
    domain_delete = staticmethod(actions.delete_registry)


@admin.register(Repository)
class RepositoryAdmin(ReadOnlyAdmin):
    list_display = ["name", "registry", "refreshed_at"]
    list_filter = ["registry"]
    search_fields = ["name"]


@admin.register(Image)
class ImageAdmin(ReadOnlyAdmin):
    list_display = ["repository", "digest", "size", "architectures", "created"]
    search_fields = ["digest", "repository__name"]


@admin.register(Tag)
class TagAdmin(ReadOnlyAdmin):
    list_display = ["repository", "name", "digest", "updated_at"]
    search_fields = ["name", "digest", "repository__name"]


@admin.register(TagLock)
class TagLockAdmin(ReadOnlyAdmin):
    list_display = ["registry", "repository", "tag"]


@admin.register(Promotion)
class PromotionAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "source_repository",
        "digest",
        "source_environment",
        "target_environment",
        "tags",
        "actor",
        "status",
    ]
    list_filter = ["status", "target_environment"]
    search_fields = ["digest", "source_repository", "target_repository"]

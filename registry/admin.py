from django import forms
from django.contrib import admin

from registry.models import Registry


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
class RegistryAdmin(admin.ModelAdmin):
    form = RegistryForm
    list_display = ["name", "url", "username", "verify_tls"]

"""Container registries Berth reads images from and promotes images in."""

from __future__ import annotations

from django.db import models

from portal.crypto import EncryptedTextField


class Registry(models.Model):
    """An OCI / Docker registry (Distribution, Harbor, ...). The password is stored
    encrypted and never shown again after it is saved."""

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(help_text="Base URL, e.g. http://127.0.0.1:5000.")
    username = models.CharField(max_length=150, blank=True)
    password = EncryptedTextField(blank=True)
    verify_tls = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "registries"

    def __str__(self) -> str:
        return self.name

    @property
    def host(self) -> str:
        """host:port as image references spell it."""
        return self.url.split("://", 1)[-1].rstrip("/")

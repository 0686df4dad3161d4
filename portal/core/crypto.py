"""Encryption at rest for secrets kept in the database (TLS keys, registry passwords)."""

from __future__ import annotations

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import models

__all__ = ["EncryptedTextField", "decrypt", "encrypt"]

_MARK = "fernet:"


@cache
def _fernet() -> Fernet:
    # BERTH_ENCRYPTION_KEY lets operators rotate SECRET_KEY without losing secrets;
    # otherwise the key is derived from SECRET_KEY.
    from portal.env import env_str

    material = env_str("BERTH_ENCRYPTION_KEY", settings.SECRET_KEY)
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(material.encode()).digest()))


def encrypt(plain: str) -> str:
    return _MARK + _fernet().encrypt(plain.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored.startswith(_MARK):
        return stored
    try:
        return _fernet().decrypt(stored[len(_MARK) :].encode()).decode()
    except InvalidToken:
        raise ValueError(
            "A stored secret cannot be decrypted: SECRET_KEY or BERTH_ENCRYPTION_KEY changed."
        ) from None


class EncryptedTextField(models.TextField):
    """A text field stored encrypted with Fernet; reads give the plain text back."""

    def from_db_value(self, value, expression, connection):
        return value if not value else decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return value if not value else encrypt(value)

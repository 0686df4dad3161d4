"""The portal app's models live in the kernel (:mod:`portal.core.models`); Django finds
them here."""

from portal.core.models import ApiToken, AuditEvent

__all__ = ["ApiToken", "AuditEvent"]

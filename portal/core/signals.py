"""What changes a person's access outside the environments' grants: the account turned
off, the password changed, groups joined or left. Open sockets are told at once, and a
changed password revokes the API tokens made with the old one."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models.signals import m2m_changed, post_save, pre_save

from portal.core.events import notify_access_changed
from portal.core.models import ApiToken

__all__ = ["connect"]


def _remember_old_account(sender, instance, **kwargs) -> None:
    if instance.pk is None:
        instance._berth_was = None
        return
    instance._berth_was = (
        sender.objects.filter(pk=instance.pk).values_list("password", "is_active").first()
    )


def _account_saved(sender, instance, created, **kwargs) -> None:
    was = getattr(instance, "_berth_was", None)
    if created or was is None:
        return
    password_changed = was[0] != instance.password
    if password_changed:
        # A new password ends what the old one handed out: tokens and open sockets.
        ApiToken.objects.filter(user=instance).delete()
    if password_changed or was[1] != instance.is_active:
        notify_access_changed([instance.pk])


def _groups_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if reverse:  # group.user_set changed: instance is the group
        users = pk_set or []
        if action == "post_clear":
            users = []  # cleared before we can know who was in it; pre_clear would be needed
        notify_access_changed(users)
    else:
        notify_access_changed([instance.pk])


def connect() -> None:
    """Connect the receivers (from the portal app's ready())."""
    user = get_user_model()
    pre_save.connect(_remember_old_account, sender=user, dispatch_uid="berth-account-before")
    post_save.connect(_account_saved, sender=user, dispatch_uid="berth-account-saved")
    m2m_changed.connect(
        _groups_changed, sender=user.groups.through, dispatch_uid="berth-groups-changed"
    )

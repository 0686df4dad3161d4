import os

from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _private_sqlite_file(sender, connection, **kwargs) -> None:
    """The SQLite file (and its WAL files) readable by the owner only."""
    if connection.vendor != "sqlite":
        return
    name = str(connection.settings_dict.get("NAME") or "")
    for path in (name, f"{name}-wal", f"{name}-shm"):
        if path and os.path.exists(path) and os.stat(path).st_mode & 0o077:
            os.chmod(path, 0o600)


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Berth portal"

    def ready(self) -> None:
        from portal.api import schema  # noqa: F401 - registers the OpenAPI auth extension
        from portal.core import signals

        signals.connect()
        connection_created.connect(_private_sqlite_file, dispatch_uid="berth-sqlite-mode")

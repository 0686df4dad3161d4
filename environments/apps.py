from django.apps import AppConfig


class EnvironmentsConfig(AppConfig):
    name = "environments"
    verbose_name = "Environments"

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from environments.deploying import traffic
        from environments.models import EntryPoint

        # However an entry point goes (a config without it, its service or environment
        # deleted, a cascade), the proxy stops serving it once the deletion commits.
        post_delete.connect(
            traffic.entry_point_deleted, sender=EntryPoint, dispatch_uid="berth-entry-point-gone"
        )

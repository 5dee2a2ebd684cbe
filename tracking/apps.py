from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "tracking"

    def ready(self) -> None:
        from kernel.permissions import register
        from kernel.reconcile import register_reconciler
        from tracking.permissions import TABLE
        from tracking.recovery import SyncReconciler

        register(TABLE)
        register_reconciler("syncs", SyncReconciler())

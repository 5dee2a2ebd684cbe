from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"

    def ready(self) -> None:
        from kernel.permissions import register
        from kernel.reconcile import register_reconciler
        from reports import panels, receivers  # noqa: F401  (registers panels, connects receivers)
        from reports.documents.recovery import ReportReconciler
        from reports.jobs import BatchReconciler
        from reports.permissions import TABLE
        from reports.rollups import RollupReconciler

        register(TABLE)
        register_reconciler("assessment batches", BatchReconciler())
        register_reconciler("report renders", ReportReconciler())
        register_reconciler("dashboard rollups", RollupReconciler())

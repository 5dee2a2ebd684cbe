from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"

    def ready(self) -> None:
        from approvals import panels, receivers  # noqa: F401  (page panels; judges alias changes)
        from approvals.jobs import PromotionReconciler
        from approvals.permissions import TABLE
        from kernel.permissions import register
        from kernel.reconcile import register_reconciler

        register(TABLE)
        # Approved promotions whose delivery job was lost go back on the queue.
        register_reconciler("promotions", PromotionReconciler())

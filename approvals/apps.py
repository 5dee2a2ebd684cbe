from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"

    def ready(self) -> None:
        from approvals import panels, receivers  # noqa: F401  (page panels; judges alias changes)
        from approvals.permissions import TABLE
        from kernel.permissions import register

        register(TABLE)

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(sender: AppConfig, **kwargs: Any) -> None:
    from django.apps import apps

    from govdash.account_audit import role_baseline
    from kernel.roles import sync_roles

    with role_baseline():
        sync_roles(kwargs.get("apps") or apps)


class GovdashConfig(AppConfig):
    """The composition root: URLs, API mounting, cron, navigation, home page,
    API tokens. It may import every app; no app imports it."""

    name = "govdash"
    verbose_name = "govdash"

    def ready(self) -> None:
        from govdash import account_audit
        from govdash.permissions import TABLE
        from kernel.permissions import register

        register(TABLE)
        account_audit.connect()
        # After every migrate (and every flush of a test database) the role groups exist.
        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="govdash_sync_roles")

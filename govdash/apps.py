from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(sender: AppConfig, **kwargs: Any) -> None:
    from django.apps import apps

    from govdash.roles import sync_roles

    sync_roles(kwargs.get("apps") or apps)


class GovdashConfig(AppConfig):
    name = "govdash"
    verbose_name = "govdash"

    def ready(self) -> None:
        # After every migrate (and every flush of a test database), roles and
        # their grants are in place.
        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="govdash_sync_roles")

"""Where report files live: Django's ``storages["reports"]`` (settings.STORAGES)."""

from __future__ import annotations

from django.core.files.storage import Storage, storages


def report_storage() -> Storage:
    return storages["reports"]

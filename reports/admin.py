"""Reports in the Django admin: to look at, never to add, change or delete.

Nobody can alter or delete a report (issue 9, docs/operations.md "Reports
cannot be altered or deleted"); reports are requested on the reports page, the
API or ``manage.py report``, which audit the request.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from reports.models import Report


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "kind", "title", "status", "created_at", "pages", "signed", "timestamped"]
    list_filter = ["kind", "status", "signed", "timestamped"]
    actions = None  # no "delete selected"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

"""The admin site's user pages, with every change audited in its transaction.

Account changes are recorded by ``govdash.account_audit`` whatever path makes
them; Django's admin views that save are atomic, except the password form,
which is made so here so that a password change and its event commit together.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db import transaction
from django.http import HttpRequest, HttpResponse

User = get_user_model()


class AuditedUserAdmin(UserAdmin):  # type: ignore[type-arg]
    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        with transaction.atomic(using=self.model._default_manager.db):
            return super().user_change_password(request, id, form_url)  # type: ignore[no-any-return]


admin.site.unregister(User)
admin.site.register(User, AuditedUserAdmin)

__all__: list[Any] = []

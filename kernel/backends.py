"""Authentication backends: django-axes' lockout check (``LockoutBackend``), then
passwords from Django's model backend, rights from nowhere else (``PasswordBackend``).

Rights are answered only by the ``rules`` backend (``kernel.permissions``), so
Django's per-user and per-group permission rows grant nothing here: one
permission model, not two that could disagree.
"""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest


class PasswordBackend(ModelBackend):
    def get_user_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        return set()

    def get_group_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        return set()

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        return set()

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        return False

    def has_module_perms(self, user_obj: Any, app_label: str) -> bool:
        return False


# Set on a request whose login attempt the lockout refused before any password check.
REFUSED_BY_LOCKOUT = "login_refused_by_lockout"


class LockoutBackend(AxesStandaloneBackend):  # type: ignore[misc]  # axes is untyped
    """django-axes' lockout check, first in ``AUTHENTICATION_BACKENDS``.

    A locked-out attempt is refused before any password is checked, yet Django
    reports the refusal as a failed login (``user_login_failed``), right
    password or not. The mark lets the audit trail record it as a refusal.
    """

    def authenticate(
        self,
        request: HttpRequest,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            super().authenticate(request, username, password, **kwargs)
        except AxesBackendPermissionDenied:
            setattr(request, REFUSED_BY_LOCKOUT, True)
            raise

"""The username django-axes records for a login attempt.

Anyone can type any length of name into the login form, and Django
authenticates (and so reports the failure) whatever was typed. django-axes
stores the name in a 255-character column without cutting it: on PostgreSQL a
longer name made the failed login a server error. Cut it to the column here.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

AXES_USERNAME_MAX = 255  # axes.models.AccessAttempt.username


def axes_username(request: HttpRequest | None, credentials: dict[str, Any] | None) -> str | None:
    if credentials:
        username = credentials.get("username")
    else:
        data = getattr(request, "data", None) or getattr(request, "POST", {})
        username = data.get("username")
    return None if username is None else str(username)[:AXES_USERNAME_MAX]

"""A login attempt with an absurdly long username is an ordinary failed login.

django-axes stores the typed name in a 255-character column; on PostgreSQL a
longer one used to turn the failed login into a server error (DataError).
"""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import RequestFactory
from django.urls import reverse

from audit.models import AuditEvent
from govdash.login import axes_username

pytestmark = pytest.mark.django_db

LONG = "ü" + "n" * 998 + "!"  # 1,000 characters


def _fail(client, username: str, n: int):  # type: ignore[no-untyped-def]
    return client.post(
        reverse("login"),
        {"username": username, "password": "not the password"},
        REMOTE_ADDR=f"10.8.0.{n}",
    )


def test_long_username_fails_login_normally_and_is_recorded(client):
    response = _fail(client, LONG, 1)
    assert response.status_code == 200
    assert b"did not match" in response.content
    attempt = AccessAttempt.objects.get()
    assert attempt.username == LONG[:255]
    assert AuditEvent.objects.get(action="auth.login_failed").actor_username == LONG[:64]


def test_long_username_is_locked_out_like_any_other(client):
    # A lockout binds the username at one address.
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(1, limit):
        assert _fail(client, LONG, 1).status_code == 200
    locked = _fail(client, LONG, 1)
    assert b"Account locked" in locked.content
    assert AuditEvent.objects.filter(action="auth.lockout").exists()


def test_axes_username_cuts_typed_names_and_keeps_short_ones():
    request = RequestFactory().post("/accounts/login/", {"username": LONG})
    assert axes_username(request, None) == LONG[:255]
    assert axes_username(request, {"username": "olivia"}) == "olivia"
    assert axes_username(None, {"username": LONG}) == LONG[:255]
    assert axes_username(RequestFactory().post("/", {}), None) is None

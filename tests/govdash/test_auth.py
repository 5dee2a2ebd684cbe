from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import verify

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


def _login(client: Client, username: str, password: str):  # type: ignore[no-untyped-def]
    return client.post(reverse("login"), {"username": username, "password": password})


def test_login_lands_on_the_overview_and_is_audited(client, make_user):
    user = make_user("olivia", "compliance-officer")
    response = _login(client, "olivia", PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == reverse("home")
    event = AuditEvent.objects.get(action="auth.login")
    assert event.actor_id == user.pk
    assert event.actor_role == "compliance-officer"
    assert event.remote_addr == "127.0.0.1"
    assert event.request_id


def test_logout_is_audited_and_ends_the_session(client, make_user):
    make_user("olivia")
    _login(client, "olivia", PASSWORD)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="auth.logout", actor_username="olivia").exists()
    assert client.get(reverse("home")).status_code == 302


def test_failed_login_is_audited_without_the_password(client, make_user):
    make_user("olivia")
    response = _login(client, "olivia", "wrong password guess")
    assert response.status_code == 200
    assert b"did not match" in response.content
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.outcome == AuditEvent.Outcome.FAILURE
    assert event.actor_username == "olivia"
    assert "wrong password guess" not in str(event.data)


def test_nth_failed_login_locks_the_account_and_is_audited(client, make_user):
    make_user("olivia")
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 1):
        assert _login(client, "olivia", "wrong").status_code == 200
    locked = _login(client, "olivia", "wrong")
    assert locked.status_code == 429 or locked.status_code == 403
    assert b"Account locked" in locked.content
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == limit
    assert AuditEvent.objects.filter(
        action="auth.lockout", actor_username="olivia", outcome="denied"
    ).exists()
    # The right password no longer opens a locked account.
    assert b"Account locked" in _login(client, "olivia", PASSWORD).content
    assert "_auth_user_id" not in client.session
    assert verify().intact


def test_lockout_of_one_account_comes_from_its_own_failures(client, make_user):
    make_user("olivia")
    make_user("rahul")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, "olivia", "wrong")
    assert _login(client, "rahul", PASSWORD).status_code == 302


def test_idle_session_expires(client, make_user):
    make_user("olivia")
    _login(client, "olivia", PASSWORD)
    assert client.get(reverse("home")).status_code == 200
    Session.objects.update(expire_date=timezone.now() - dt.timedelta(seconds=1))
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response.headers["Location"].startswith(reverse("login"))


def test_session_lasts_at_most_the_idle_timeout_and_not_past_the_browser():
    assert settings.SESSION_SAVE_EVERY_REQUEST
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE
    assert settings.SESSION_COOKIE_AGE <= 8 * 3600


def test_user_without_the_audit_permission_gets_a_403_page(client, make_user):
    make_user("eli", "ml-engineer")
    _login(client, "eli", PASSWORD)
    response = client.get(reverse("audit:log"))
    assert response.status_code == 403
    assert b"do not have access" in response.content


def test_unknown_page_gets_the_404_page(client, make_user):
    make_user("eli")
    _login(client, "eli", PASSWORD)
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert b"Page not found" in response.content

"""Behind a proxy, a lockout binds a username at the client's own address.

With GOVDASH_BEHIND_PROXY every request arrives from the proxy's address. The
lockout used to key on that address alone, so one client's failures locked
everyone out, and each refused login, right password or not, was recorded as
a failed one.
"""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import verify

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
PROXY = "10.0.0.1"
CLIENT_A = "203.0.113.7"
CLIENT_C = "198.51.100.9"


def _login(client: Client, username: str, password: str, address: str):  # type: ignore[no-untyped-def]
    return client.post(
        reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=address,
    )


@pytest.fixture
def behind_proxy(settings):  # type: ignore[no-untyped-def]
    settings.BEHIND_PROXY = True


def test_one_client_locks_out_only_its_own_username_at_its_own_address(
    behind_proxy, make_user, settings
):
    make_user("alice")
    make_user("bob")
    a, b = Client(), Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(a, "alice", "wrong", CLIENT_A)
    assert AuditEvent.objects.filter(action="auth.lockout", actor_username="alice").exists()
    # Axes keys the attempts on the address the audit trail records, not the proxy's.
    assert set(AccessAttempt.objects.values_list("username", "ip_address")) == {("alice", CLIENT_A)}

    # Bob, through the same proxy from another address, signs in.
    response = _login(b, "bob", PASSWORD, CLIENT_C)
    assert response.status_code == 302
    assert "_auth_user_id" in b.session
    login = AuditEvent.objects.get(action="auth.login", actor_username="bob")
    assert login.remote_addr == CLIENT_C
    assert not AuditEvent.objects.filter(actor_username="bob").exclude(action="auth.login")

    # Alice from another address is not locked either: the pair is.
    assert _login(Client(), "alice", PASSWORD, CLIENT_C).status_code == 302
    assert b"Account locked" in _login(a, "alice", PASSWORD, CLIENT_A).content
    assert verify().intact


def test_a_correct_login_is_never_recorded_as_failed(behind_proxy, make_user, settings):
    make_user("alice")
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit):
        _login(Client(), "alice", "wrong", CLIENT_A)
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == limit

    # The right password during the lockout is refused, and recorded as refused:
    # not as a failed login, and not as one more failure that restarts the lockout.
    refused = _login(Client(), "alice", PASSWORD, CLIENT_A)
    assert b"Account locked" in refused.content
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == limit
    last = AuditEvent.objects.order_by("-sequence").first()
    assert last is not None
    assert (last.action, last.outcome) == ("auth.lockout", AuditEvent.Outcome.DENIED)
    assert last.data["reason"] == "attempt during a lockout"
    assert AccessAttempt.objects.get().failures_since_start == limit

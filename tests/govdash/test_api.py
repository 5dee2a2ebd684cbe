from __future__ import annotations

import hashlib

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from govdash.models import ApiToken
from govdash.services import token_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(make_user):  # type: ignore[no-untyped-def]
    return make_user("ada", "admin")


@pytest.fixture
def ci_token(make_user, admin_user):  # type: ignore[no-untyped-def]
    ci = make_user("ci-pipeline", "ml-engineer")
    token, secret = token_create(user=ci, name="release pipeline", created_by=admin_user)
    return token, secret


def _bearer(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def test_me_answers_for_a_bearer_token(client: Client, ci_token):
    _, secret = ci_token
    response = client.get("/api/v1/me", **_bearer(secret))
    assert response.status_code == 200
    assert response.json() == {
        "username": "ci-pipeline",
        "full_name": "",
        "email": "",
        "roles": ["ml-engineer"],
        "is_staff": False,
        "auth": "token",
    }


def test_me_answers_for_a_browser_session(client: Client, make_user):
    user = make_user("olivia", "compliance-officer")
    client.force_login(user)
    response = client.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json()["auth"] == "session"


def test_api_refuses_a_wrong_or_missing_token(client: Client, ci_token):
    _, secret = ci_token
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", **_bearer(secret + "x")).status_code == 401
    assert client.get("/api/v1/me", **_bearer("not-a-govdash-token")).status_code == 401


def test_token_is_stored_only_as_its_hash(ci_token):
    token, secret = ci_token
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(list(ApiToken.objects.values_list("name", "prefix", "digest")))
    assert not AuditEvent.objects.filter(data__icontains=secret).exists()


def test_revoked_token_is_refused(client: Client, ci_token, admin_user):
    from govdash.services import token_revoke

    token, secret = ci_token
    token_revoke(token=token, actor=admin_user)
    assert client.get("/api/v1/me", **_bearer(secret)).status_code == 401
    assert AuditEvent.objects.filter(action="api_token.revoke", actor_username="ada").exists()


def test_write_with_a_token_is_audited(client: Client, ci_token):
    token, secret = ci_token
    response = client.delete("/api/v1/tokens/current", **_bearer(secret))
    assert response.status_code == 200
    assert response.json()["prefix"] == token.prefix
    write = AuditEvent.objects.get(action="api_token.write")
    assert write.actor_username == "ci-pipeline"
    assert write.data["method"] == "DELETE"
    assert write.data["path"] == "/api/v1/tokens/current"
    assert AuditEvent.objects.filter(action="api_token.revoke").exists()
    assert client.get("/api/v1/me", **_bearer(secret)).status_code == 401


def test_reads_with_a_token_are_not_audited(client: Client, ci_token):
    _, secret = ci_token
    before = AuditEvent.objects.count()
    client.get("/api/v1/me", **_bearer(secret))
    assert AuditEvent.objects.count() == before


def test_session_writes_need_the_csrf_token(make_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("olivia"))
    assert client.delete("/api/v1/tokens/current").status_code == 403


def test_openapi_schema_is_served_to_authenticated_callers(client: Client, ci_token):
    _, secret = ci_token
    assert client.get("/api/v1/openapi.json").status_code == 401
    response = client.get("/api/v1/openapi.json", **_bearer(secret))
    assert response.status_code == 200
    schema = response.json()
    assert "/api/v1/me" in schema["paths"]
    assert schema["info"]["title"] == "govdash API"


def test_admin_creates_a_token_shown_once(client: Client, admin_user, make_user):
    target = make_user("ci-bot", "ml-engineer")
    client.force_login(admin_user)
    response = client.post(reverse("tokens"), {"user": target.pk, "name": "nightly gate"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    secret = response.context["created_secret"]
    assert secret.startswith("gd_")
    assert secret in response.content.decode()
    assert secret not in client.get(reverse("tokens")).content.decode()
    assert client.get("/api/v1/me", **_bearer(secret)).json()["username"] == "ci-bot"
    assert AuditEvent.objects.filter(action="api_token.create", actor_username="ada").exists()


def test_only_admins_manage_tokens(client: Client, make_user):
    client.force_login(make_user("rita", "reviewer"))
    assert client.get(reverse("tokens")).status_code == 403


def test_admin_revokes_a_token_from_the_page(client: Client, ci_token, admin_user):
    token, secret = ci_token
    client.force_login(admin_user)
    response = client.post(reverse("token-revoke", args=[token.pk]))
    assert response.status_code == 302
    assert Client().get("/api/v1/me", **_bearer(secret)).status_code == 401


def test_tokens_command_prints_a_working_token(client: Client, admin_user, make_user, capsys):
    make_user("ci-bot")
    call_command("tokens", "create", "--user", "ci-bot", "--name", "gate", "--by", "ada")
    secret = capsys.readouterr().out.strip()
    assert client.get("/api/v1/me", **_bearer(secret)).json()["username"] == "ci-bot"


def test_only_a_superuser_issues_a_token_for_a_superuser(
    client: Client, admin_user, make_user, django_user_model, capsys
):  # type: ignore[no-untyped-def]
    # A token acts as its user: an admin must not gain a superuser's powers by one.
    root = django_user_model.objects.create_superuser("root", password="correct horse battery")
    client.force_login(admin_user)
    response = client.post(reverse("tokens"), {"user": root.pk, "name": "escalate"})
    assert response.status_code == 200
    assert "Only a superuser may issue a token for a superuser." in response.content.decode()
    assert response.context["created_secret"] is None
    with pytest.raises(CommandError, match="Only a superuser may issue a token for a superuser"):
        call_command("tokens", "create", "--user", "root", "--name", "escalate", "--by", "ada")
    assert not ApiToken.objects.exists()
    assert not AuditEvent.objects.filter(action="api_token.create").exists()

    other = django_user_model.objects.create_superuser("su", password="correct horse battery")
    call_command("tokens", "create", "--user", "root", "--name", "ops", "--by", "su")
    secret = capsys.readouterr().out.strip()
    assert Client().get("/api/v1/me", **_bearer(secret)).json()["username"] == "root"
    client.force_login(other)
    response = client.post(reverse("tokens"), {"user": root.pk, "name": "backup"})
    assert response.context["created_secret"].startswith("gd_")
    assert set(ApiToken.objects.values_list("created_by__username", flat=True)) == {"su"}

"""``manage.py demo_users``: one user per role, passwords kept and reused."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import verify
from kernel.roles import ALL_ROLES

pytestmark = pytest.mark.django_db

EXPECTED = {
    "officer": "compliance-officer",
    "reviewer1": "reviewer",
    "reviewer2": "reviewer",
    "reviewer3": "reviewer",
    "auditor": "auditor",
    "engineer": "ml-engineer",
    "admin": "admin",
}


@pytest.fixture
def credentials(tmp_path: Path) -> Path:
    return tmp_path / "demo" / "credentials.json"


def run_demo_users(path: Path) -> str:
    out = io.StringIO()
    call_command("demo_users", credentials=path, stdout=out)
    return out.getvalue()


def stored_passwords(path: Path) -> dict[str, str]:
    return {item["username"]: item["password"] for item in json.loads(path.read_text())["users"]}


def test_creates_one_user_per_role_and_three_reviewers(credentials: Path) -> None:
    run_demo_users(credentials)

    users = get_user_model().objects.prefetch_related("groups")
    assert {user.username: [g.name for g in user.groups.all()] for user in users} == {
        username: [role] for username, role in EXPECTED.items()
    }
    assert set(EXPECTED.values()) == set(ALL_ROLES)
    assert Group.objects.get(name="reviewer").user_set.count() == 3


def test_only_admin_is_staff_and_superuser(credentials: Path) -> None:
    run_demo_users(credentials)

    privileged = get_user_model().objects.filter(is_staff=True, is_superuser=True)
    assert [user.username for user in privileged] == ["admin"]


def test_passwords_are_stored_readable_by_the_owner_only(credentials: Path) -> None:
    output = run_demo_users(credentials)

    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    passwords = stored_passwords(credentials)
    assert set(passwords) == set(EXPECTED)
    assert len(set(passwords.values())) == len(EXPECTED)
    assert all(len(password) >= 16 for password in passwords.values())
    for username, password in passwords.items():
        assert username in output
        assert password in output


def test_a_second_run_reuses_the_stored_passwords(credentials: Path, client: Client) -> None:
    run_demo_users(credentials)
    first = stored_passwords(credentials)

    run_demo_users(credentials)

    assert stored_passwords(credentials) == first
    response = client.post(
        reverse("login"), {"username": "reviewer2", "password": first["reviewer2"]}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == reverse("home")


def test_a_changed_password_is_reset_to_the_stored_one(credentials: Path, client: Client) -> None:
    run_demo_users(credentials)
    officer = get_user_model().objects.get(username="officer")
    officer.set_password("someone changed this")
    officer.save()

    run_demo_users(credentials)

    officer.refresh_from_db()
    assert officer.check_password(stored_passwords(credentials)["officer"])
    event = AuditEvent.objects.get(action="user.update")
    assert event.target_id == str(officer.pk)
    assert event.data["changed"] == ["password"]


def test_each_created_user_is_audited_once(credentials: Path) -> None:
    run_demo_users(credentials)
    run_demo_users(credentials)

    events = AuditEvent.objects.filter(action="user.create").chain_order()
    users = {str(user.pk): user.username for user in get_user_model().objects.all()}
    assert [(users[e.target_id], e.data["role"]) for e in events] == list(EXPECTED.items())
    assert {(e.actor_id, e.actor_username, e.target_type) for e in events} == {
        (None, "demo", "auth.user")
    }
    assert not AuditEvent.objects.filter(action="user.update").exists()
    assert verify().intact


def test_missing_role_groups_fail_with_a_clear_message(credentials: Path) -> None:
    Group.objects.filter(name="auditor").delete()

    with pytest.raises(CommandError, match=r"role groups missing \(auditor\)"):
        run_demo_users(credentials)
    assert not get_user_model().objects.exists()


def test_an_unreadable_credentials_file_fails_with_a_clear_message(credentials: Path) -> None:
    credentials.parent.mkdir(parents=True)
    credentials.write_text("{not json")

    with pytest.raises(CommandError, match=r"not a demo credentials file.*delete it"):
        run_demo_users(credentials)
    assert not get_user_model().objects.exists()

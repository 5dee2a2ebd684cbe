"""Finding 5 of issue 10: account, role and right changes are audited, from the
admin site and everywhere else, with their values before and after."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.test import Client

from audit.models import AuditEvent
from govdash.services import token_create

pytestmark = pytest.mark.django_db

PASSWORD = "a long enough admin password"


@pytest.fixture
def root(django_user_model):  # type: ignore[no-untyped-def]
    return django_user_model.objects.create_superuser("root", "root@example.org", PASSWORD)


@pytest.fixture
def admin_client(client: Client, root) -> Client:  # type: ignore[no-untyped-def]
    client.force_login(root)
    return client


def _events(action: str, target_id: object) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(action=action, target_id=str(target_id)).order_by("sequence")
    )


def _change_form(user, **changes) -> dict[str, object]:  # type: ignore[no-untyped-def]
    data: dict[str, object] = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on" if user.is_active else "",
        "is_staff": "on" if user.is_staff else "",
        "is_superuser": "on" if user.is_superuser else "",
        "groups": [g.pk for g in user.groups.all()],
        "user_permissions": [p.pk for p in user.user_permissions.all()],
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "initial-date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "initial-date_joined_1": user.date_joined.strftime("%H:%M:%S"),
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


def test_admin_creating_a_user_is_audited_with_the_admin_as_actor(admin_client, root):
    response = admin_client.post(
        "/admin/auth/user/add/",
        {"username": "newbie", "password1": "x" * 8 + "Yq7!zz", "password2": "x" * 8 + "Yq7!zz"},
    )
    assert response.status_code == 302, response.content[:2000]
    from django.contrib.auth import get_user_model

    newbie = get_user_model().objects.get(username="newbie")
    (event,) = _events("account.create", newbie.pk)
    assert event.actor_username == "root"
    assert event.data["after"]["username"] == "newbie"
    assert event.data["after"]["is_superuser"] is False
    assert event.data["password_set"] is True
    assert "password" not in event.data["after"]


def test_admin_making_a_superuser_and_granting_a_role_records_before_and_after(
    admin_client, make_user
):
    user = make_user("mallory", "ml-engineer")
    admin_group = Group.objects.get(name="admin")
    engineer = Group.objects.get(name="ml-engineer")
    response = admin_client.post(
        f"/admin/auth/user/{user.pk}/change/",
        _change_form(user, is_staff="on", is_superuser="on", groups=[engineer.pk, admin_group.pk]),
    )
    assert response.status_code == 302, response.content[:3000]

    (flags,) = _events("account.change", user.pk)
    assert flags.actor_username == "root"
    assert flags.data["before"] == {"is_staff": False, "is_superuser": False}
    assert flags.data["after"] == {"is_staff": True, "is_superuser": True}
    grants = [e for e in _events("account.groups", user.pk) if e.actor_username == "root"]
    assert len(grants) == 1
    assert grants[0].data["before"] == ["ml-engineer"]
    assert grants[0].data["after"] == ["admin", "ml-engineer"]
    assert grants[0].data["added"] == ["admin"]

    # Taking the role away again and deactivating the account.
    user.refresh_from_db()
    response = admin_client.post(
        f"/admin/auth/user/{user.pk}/change/",
        _change_form(user, is_active="", groups=[engineer.pk]),
    )
    assert response.status_code == 302
    removal = _events("account.groups", user.pk)[-1]
    assert removal.data["removed"] == ["admin"]
    assert _events("account.change", user.pk)[-1].data["after"] == {"is_active": False}


def test_admin_password_change_is_audited_without_the_hash(admin_client, make_user):
    user = make_user("pat", "auditor")
    old_hash = user.password
    new = "an entirely new passphrase 9"
    response = admin_client.post(
        f"/admin/auth/user/{user.pk}/password/",
        {"password1": new, "password2": new, "usable_password": "true"},
    )
    assert response.status_code == 302, response.content[:3000]
    (event,) = _events("account.change", user.pk)
    assert event.actor_username == "root"
    assert event.data["password_changed"] is True
    user.refresh_from_db()
    assert user.password not in str(event.data)
    assert old_hash not in str(event.data)


def test_membership_and_permissions_changed_outside_the_admin_are_audited(make_user):
    user = make_user("sam")
    reviewer = Group.objects.get(name="reviewer")
    user.groups.add(reviewer)
    grant = _events("account.groups", user.pk)[-1]
    assert grant.actor_username == "command"
    assert grant.data["added"] == ["reviewer"]

    # From the group's side, and by clearing.
    reviewer.user_set.remove(user)
    assert _events("account.groups", user.pk)[-1].data["removed"] == ["reviewer"]
    user.groups.add(reviewer)
    user.groups.clear()
    assert _events("account.groups", user.pk)[-1].data == {
        "before": ["reviewer"],
        "after": [],
        "added": [],
        "removed": ["reviewer"],
    }

    permission = Permission.objects.get(codename="view_auditevent")
    user.user_permissions.add(permission)
    assert _events("account.permissions", user.pk)[-1].data["added"] == ["audit.view_auditevent"]
    reviewer.permissions.add(permission)
    assert _events("group.permissions", reviewer.pk)[-1].data["added"] == ["audit.view_auditevent"]

    group = Group.objects.create(name="temporary")
    group.name = "renamed"
    group.save()
    assert _events("group.change", group.pk)[-1].data == {
        "before": {"name": "temporary"},
        "after": {"name": "renamed"},
    }
    user.groups.add(group)
    pk = group.pk
    group.delete()
    assert _events("group.delete", pk)[-1].data["before"] == {"name": "renamed", "members": ["sam"]}


def test_flags_and_password_flipped_in_code_are_audited(make_user):
    user = make_user("flip")
    user.is_superuser = True
    user.set_password("another long passphrase")
    user.save()
    event = _events("account.change", user.pk)[-1]
    assert event.data["before"] == {"is_superuser": False}
    assert event.data["after"] == {"is_superuser": True}
    assert event.data["password_changed"] is True


def test_a_login_is_not_an_account_change(client: Client, make_user):
    user = make_user("olivia", "compliance-officer")
    response = client.post(
        "/accounts/login/", {"username": "olivia", "password": "correct horse battery"}
    )
    assert response.status_code == 302
    assert _events("account.change", user.pk) == []


def test_the_change_and_its_event_commit_together(make_user):
    user = make_user("rolled")
    before = AuditEvent.objects.count()
    seen: list[AuditEvent] = []

    @transaction.atomic
    def promote_then_fail() -> None:
        user.is_staff = True
        user.save()
        seen.extend(_events("account.change", user.pk))
        raise RuntimeError("the caller's transaction fails")

    with pytest.raises(RuntimeError):
        promote_then_fail()
    assert seen  # recorded inside the transaction...
    assert AuditEvent.objects.count() == before  # ...and gone with it
    user.refresh_from_db()
    assert user.is_staff is False


def test_a_token_issued_for_someone_else_names_both(make_user):
    admin = make_user("ada", "admin")
    ci = make_user("ci", "ml-engineer")
    token, _ = token_create(user=ci, name="pipeline", created_by=admin)
    (event,) = _events("api_token.create", token.pk)
    assert event.actor_username == "ada"
    assert event.data["for_user"] == "ci"

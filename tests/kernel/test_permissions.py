"""The role x right matrix, driven from kernel.roles.GRANTS and the apps' tables.

Nothing here restates who may do what: the expected answer of every check is
read from GRANTS, so the test covers every role and every right there will be.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import import_module

import pytest
import rules
from django.contrib.auth.models import Group, Permission

from kernel import permissions as kernel_permissions
from kernel.permissions import Right, register, registered
from kernel.roles import ALL_ROLES, GRANTS, Role

pytestmark = pytest.mark.django_db

# The apps that define rights, each in <app>/permissions.py.
APPS_WITH_RIGHTS = ("audit", "govdash", "tracking", "reports", "approvals")
ROLES = list(Role)
RIGHTS = sorted(registered())


def _tables() -> dict[str, tuple[Right, ...]]:
    return {app: import_module(f"{app}.permissions").TABLE for app in APPS_WITH_RIGHTS}


def _defined() -> dict[str, Right]:
    return {right.name: right for table in _tables().values() for right in table}


def _granted_anywhere() -> set[str]:
    return set().union(*GRANTS.values())


# ------------------------------------------------------------------ the tables agree


def test_some_rights_are_registered_at_all():
    # Guards the parametrisations below against silently covering nothing.
    assert len(RIGHTS) >= 9
    assert len(ROLES) == len(ALL_ROLES) >= 5


def test_registered_rights_are_exactly_those_the_app_tables_define():
    assert set(registered()) == set(_defined())


def test_each_right_is_defined_once_by_the_app_it_is_named_after():
    names = [right.name for table in _tables().values() for right in table]
    assert len(names) == len(set(names)), "a right is defined twice"
    for app, table in _tables().items():
        for right in table:
            assert right.app_label == app, right.name
            assert right.description.strip(), right.name


def test_every_role_has_an_entry_in_grants():
    assert set(GRANTS) == set(Role)


def test_every_right_named_in_grants_is_defined_by_some_app_table():
    undefined = _granted_anywhere() - set(_defined())
    assert not undefined, f"GRANTS names rights no app defines: {sorted(undefined)}"


def test_every_defined_right_is_granted_to_at_least_one_role():
    ungranted = set(_defined()) - _granted_anywhere()
    assert not ungranted, f"rights no role holds: {sorted(ungranted)}"


# ------------------------------------------------------------------ the matrix


@pytest.fixture
def users_by_role(make_user):  # type: ignore[no-untyped-def]
    return {role: make_user(f"only-{role.value}", role.value) for role in Role}


def test_a_user_with_one_role_has_exactly_the_rights_grants_gives_it(users_by_role):
    wrong = []
    for role, right in itertools.product(ROLES, RIGHTS):
        user = users_by_role[role]
        expected = right in GRANTS[role]
        for obj in (None, object()):
            if user.has_perm(right, obj) is not expected:
                wrong.append(f"{role.value} {right} obj={obj!r}: expected {expected}")
    assert not wrong, "\n".join(wrong)


def test_a_user_in_two_roles_has_the_union_of_their_rights(make_user):
    user = make_user("two-roles", Role.AUDITOR.value, Role.COMPLIANCE_OFFICER.value)
    expected = GRANTS[Role.AUDITOR] | GRANTS[Role.COMPLIANCE_OFFICER]
    assert {right for right in RIGHTS if user.has_perm(right)} == expected


def test_a_user_without_a_role_has_no_right(make_user):
    user = make_user("nobody")
    assert [right for right in RIGHTS if user.has_perm(right)] == []


def test_a_group_that_is_not_a_role_grants_nothing(make_user):
    user = make_user("in-other-group")
    user.groups.add(Group.objects.create(name="Admin"))  # close to a role name, not one
    assert [right for right in RIGHTS if user.has_perm(right)] == []


def test_django_permission_rows_grant_nothing(make_user):
    """One permission model: a user or group permission row is not a right."""
    user = make_user("with-rows")
    group = Group.objects.create(name="legacy")
    rows = Permission.objects.filter(content_type__app_label__in=APPS_WITH_RIGHTS)
    assert rows.exists()
    user.user_permissions.add(*rows)
    group.permissions.add(*rows)
    user.groups.add(group)
    assert [right for right in RIGHTS if user.has_perm(right)] == []


def test_superusers_have_every_right(django_user_model):
    root = django_user_model.objects.create_superuser("root", password="correct horse battery")
    missing = [right for right in RIGHTS if not root.has_perm(right)]
    assert not missing


def test_inactive_users_have_no_right_even_as_admin_or_superuser(make_user, django_user_model):
    admin = make_user("gone-admin", Role.ADMIN.value)
    admin.is_active = False
    admin.save()
    root = django_user_model.objects.create_superuser(
        "gone-root", password="correct horse battery", is_active=False
    )
    for user in (admin, root):
        held = [right for right in RIGHTS if user.has_perm(right) or user.has_perm(right, object())]
        assert held == [], user.username


# ------------------------------------------------------------------ object-level rules


@dataclass
class Thing:
    owner: str


@rules.predicate
def _owns(user, thing) -> bool:  # type: ignore[no-untyped-def]
    return isinstance(thing, Thing) and thing.owner == user.get_username()


THROWAWAY = "kerneltest.edit_own_thing"


@pytest.fixture
def throwaway_right(monkeypatch) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A right with an object rule, granted to reviewers for the test only."""
    assert THROWAWAY not in registered()
    monkeypatch.setitem(GRANTS, Role.REVIEWER, GRANTS[Role.REVIEWER] | {THROWAWAY})
    register([Right(THROWAWAY, "Edit a thing one owns", object_rule=_owns)])
    try:
        yield THROWAWAY
    finally:
        rules.remove_perm(THROWAWAY)
        kernel_permissions._REGISTERED.pop(THROWAWAY, None)


def test_object_rule_binds_on_top_of_the_role_grant(throwaway_right, make_user):
    reviewer = make_user("rita", Role.REVIEWER.value)
    auditor = make_user("audrey", Role.AUDITOR.value)
    mine, theirs = Thing(owner="rita"), Thing(owner="someone else")

    assert reviewer.has_perm(throwaway_right, mine)
    assert not reviewer.has_perm(throwaway_right, theirs)
    assert not reviewer.has_perm(throwaway_right)  # no object: the rule cannot hold
    # Owning the object does not stand in for the role grant.
    assert not auditor.has_perm(throwaway_right, Thing(owner="audrey"))


def test_registering_again_replaces_the_rule(throwaway_right, make_user):
    reviewer = make_user("rita", Role.REVIEWER.value)
    register([Right(throwaway_right, "Edit any thing")])  # idempotent, by name
    assert reviewer.has_perm(throwaway_right, Thing(owner="someone else"))
    assert registered()[throwaway_right].object_rule is None

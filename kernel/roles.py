"""The roles operators rely on (docs/operations.md, "Roles"), and what each may do.

Each role is a Django group. ``GRANTS`` is the one place that says which named
permission each role holds; the permissions themselves are defined, with a
description and any object-level rule, in one table per app
(``<app>/permissions.py``, registered through ``kernel.permissions``). Everyone
checks a right the same way: ``user.has_perm(name, obj)``.

This module is also the only code that looks at a user's group names: the
permission predicates and the audit trail's role snapshot both come here.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from django.apps.registry import Apps
from django.db.models import QuerySet


class Role(StrEnum):
    COMPLIANCE_OFFICER = "compliance-officer"
    REVIEWER = "reviewer"
    AUDITOR = "auditor"
    ML_ENGINEER = "ml-engineer"
    ADMIN = "admin"


ALL_ROLES: tuple[str, ...] = tuple(role.value for role in Role)

# role -> the named permissions ("app_label.codename") it holds.
GRANTS: dict[Role, frozenset[str]] = {
    Role.ADMIN: frozenset(
        {
            "audit.view_auditevent",
            "audit.export_auditevent",
            "govdash.manage_apitoken",
            "tracking.add_source",
            "tracking.sync_source",
            "tracking.acknowledge_alert",
            "reports.assess_runs",
            "reports.edit_policy",
            "reports.publish_policy",
            "reports.request_report",
            "reports.request_dossier",
            "approvals.request_promotion",
            "approvals.review_promotion",
            "approvals.withdraw_promotion",
            "approvals.retry_promotion",
        }
    ),
    Role.AUDITOR: frozenset(
        {
            "audit.view_auditevent",
            "audit.export_auditevent",
            "reports.request_report",
            "reports.request_dossier",
        }
    ),
    Role.COMPLIANCE_OFFICER: frozenset(
        {
            "audit.view_auditevent",
            "tracking.sync_source",
            "tracking.acknowledge_alert",
            "reports.assess_runs",
            "reports.edit_policy",
            "reports.publish_policy",
            "reports.request_report",
            "reports.request_dossier",
            "approvals.review_promotion",
        }
    ),
    Role.REVIEWER: frozenset({"reports.request_dossier", "approvals.review_promotion"}),
    Role.ML_ENGINEER: frozenset({"approvals.request_promotion", "approvals.withdraw_promotion"}),
}

_CACHE = "_govdash_role_names"


def roles_of(user: Any) -> frozenset[str]:
    """The role names of an active, signed-in user (one query per user object,
    however many checks a request makes)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    names: frozenset[str] | None = getattr(user, _CACHE, None)
    if names is None:
        names = frozenset(user.groups.values_list("name", flat=True))
        setattr(user, _CACHE, names)
    return names


def granted(user: Any, permission: str) -> bool:
    """Does one of the user's roles hold ``permission``?"""
    return any(
        permission in GRANTS.get(Role(name), frozenset())
        for name in roles_of(user)
        if name in ALL_ROLES
    )


def members_of(roles: Iterable[str]) -> QuerySet[Any]:
    """The active users holding any of ``roles`` (who may fill an approval stage)."""
    from django.contrib.auth import get_user_model

    return (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=[str(role) for role in roles])
        .distinct()
    )


def role_label(user: Any) -> str:
    """The roles a user acts in, as the audit trail records them ("a,b")."""
    return ",".join(sorted(roles_of(user)))


def grant_role(user: Any, role: Role) -> None:
    """Make ``user`` a member of ``role``'s group (the group must exist: ``sync_roles``)."""
    from django.contrib.auth.models import Group

    user.groups.add(Group.objects.get(name=role.value))
    if hasattr(user, _CACHE):
        delattr(user, _CACHE)


def missing_role_groups() -> list[str]:
    """The roles whose group does not exist yet (before the first ``migrate``)."""
    from django.contrib.auth.models import Group

    present = set(Group.objects.filter(name__in=ALL_ROLES).values_list("name", flat=True))
    return [role for role in ALL_ROLES if role not in present]


def sync_roles(apps: Apps, **_: Any) -> None:
    """Create every role's group; never removes anything.

    Rights are not Django group permissions: ``GRANTS`` above is read at check
    time through the ``rules`` backend, so there is nothing else to keep in step.
    """
    group_model = apps.get_model("auth", "Group")
    for role in ALL_ROLES:
        group_model.objects.get_or_create(name=role)

"""Who may act on the mirror. Reading it is open to every signed-in user."""

from __future__ import annotations

from typing import Any

from govdash.roles import Role

_SYNC_ROLES = frozenset({Role.ADMIN.value, Role.COMPLIANCE_OFFICER.value})
_ADMIN_ROLES = frozenset({Role.ADMIN.value})


def _in_roles(user: Any, roles: frozenset[str]) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    # One query per request however many checks a page makes.
    names: frozenset[str] | None = getattr(user, "_tracking_role_names", None)
    if names is None:
        names = frozenset(user.groups.values_list("name", flat=True))
        user._tracking_role_names = names
    return not names.isdisjoint(roles)


def may_sync(user: Any) -> bool:
    return _in_roles(user, _SYNC_ROLES)


def may_acknowledge_alerts(user: Any) -> bool:
    return _in_roles(user, _SYNC_ROLES)


def may_add_source(user: Any) -> bool:
    return _in_roles(user, _ADMIN_ROLES)

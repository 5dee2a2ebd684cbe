"""Every change to accounts, roles and rights goes to the audit trail.

Users (created, changed, deleted; ``is_active``/``is_staff``/``is_superuser``
flips and password changes), group membership (a group is a role, so adding a
user to one grants it), groups, and the permissions held by users and groups
are recorded with their values before and after, whichever path made the
change: the admin site, a management command, the shell, a service. The
receivers run inside the writing transaction (the admin's views are atomic;
see ``govdash/admin.py`` for its password form), so a change and its event
commit together or not at all.

Who acted: the signed-in user (or API token's user) of the request in
progress, else whatever ``acting_as`` names (the demo set-up), else the
operator at the server's shell (``command``). API tokens are audited by
``govdash.services`` (``api_token.create``/``api_token.revoke``, naming the
user the token acts as).

Connected from ``GovdashConfig.ready()``: the composition root may import the
audit app and ``django.contrib.auth``; the audit app itself imports no app.
Role groups created by migrations (``kernel.roles.sync_roles``) use the
historical models and raise none of these signals.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import models
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save
from django.http import HttpRequest

from audit.actors import SystemActor
from audit.services import record
from govdash.audit_actions import AccountsAction

USER_FIELDS = (
    "username",
    "first_name",
    "last_name",
    "email",
    "is_active",
    "is_staff",
    "is_superuser",
)
GROUP_FIELDS = ("name",)

_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar(
    "govdash_acting_request", default=None
)
_system_actor: contextvars.ContextVar[SystemActor | None] = contextvars.ContextVar(
    "govdash_acting_system_actor", default=None
)


class ActingUserMiddleware:
    """Lets the receivers below name the request's user (after authentication;
    the API's token authentication sets ``request.user`` later, which is read
    only when an event is recorded)."""

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


@contextmanager
def acting_as(system_actor: SystemActor) -> Iterator[None]:
    """Attribute account changes made outside a request to ``system_actor``."""
    token = _system_actor.set(system_actor)
    try:
        yield
    finally:
        _system_actor.reset(token)


_baseline: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "govdash_role_baseline", default=False
)


@contextmanager
def role_baseline() -> Iterator[None]:
    """The role groups every ``migrate`` (and every test flush) makes sure exist
    (``kernel.roles.sync_roles``): the schema's baseline, not an account change,
    so not recorded. Nothing else may run inside this block."""
    token = _baseline.set(True)
    try:
        yield
    finally:
        _baseline.reset(token)


def _record(action: AccountsAction, target: models.Model, data: dict[str, Any]) -> None:
    if _baseline.get():
        return
    request = _request.get()
    user = getattr(request, "user", None) if request is not None else None
    if user is not None and user.is_authenticated:
        record(action=action, actor=user, target=target, data=data)
        return
    record(
        action=action,
        actor=None,
        system_actor=_system_actor.get() or SystemActor.COMMAND,
        target=target,
        data=data,
    )


def _values(instance: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    return {name: getattr(instance, name) for name in fields}


# --------------------------------------------------------------------- users and groups

_FIELDS: dict[type[models.Model], tuple[str, ...]] = {}
_ACTIONS: dict[type[models.Model], tuple[AccountsAction, AccountsAction, AccountsAction]] = {}


def _before_save(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    if kwargs.get("raw"):
        return
    fields = _FIELDS[sender]
    update_fields = kwargs.get("update_fields")
    watched = (*fields, "password") if sender is not Group else fields
    if update_fields is not None and not set(update_fields) & set(watched):
        instance._audit_before = None  # type: ignore[attr-defined]  # e.g. last_login only
        return
    before = (
        sender._default_manager.filter(pk=instance.pk).values(*watched).first()
        if instance.pk is not None
        else None
    )
    instance._audit_before = before  # type: ignore[attr-defined]


def _after_save(
    sender: type[models.Model], instance: models.Model, created: bool, **kwargs: Any
) -> None:
    if kwargs.get("raw"):
        return
    fields = _FIELDS[sender]
    create, change, _ = _ACTIONS[sender]
    after = _values(instance, fields)
    if created:
        data: dict[str, Any] = {"after": after}
        if sender is not Group:
            data["password_set"] = instance.has_usable_password()  # type: ignore[attr-defined]
        _record(create, instance, data)
        return
    before = getattr(instance, "_audit_before", None)
    if before is None:
        return
    changed = [name for name in fields if before[name] != after[name]]
    data = {
        "before": {name: before[name] for name in changed},
        "after": {name: after[name] for name in changed},
    }
    # Never a hash in the trail: only that the password changed.
    if sender is not Group and before.get("password") != instance.password:  # type: ignore[attr-defined]
        data["password_changed"] = True
    if changed or data.get("password_changed"):
        _record(change, instance, data)


def _before_delete(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    before = _values(instance, _FIELDS[sender])
    if sender is Group:
        before["members"] = sorted(
            u.get_username()
            for u in instance.user_set.all()  # type: ignore[attr-defined]
        )
    else:
        before["groups"] = sorted(instance.groups.values_list("name", flat=True))  # type: ignore[attr-defined]
    instance._audit_before_delete = before  # type: ignore[attr-defined]


def _after_delete(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    _, _, delete = _ACTIONS[sender]
    _record(delete, instance, {"before": getattr(instance, "_audit_before_delete", {})})


# ------------------------------------------------------------ membership and permissions


def _group_names(user: models.Model) -> list[str]:
    return sorted(user.groups.values_list("name", flat=True))  # type: ignore[attr-defined]


def _permission_labels(queryset: models.QuerySet[Permission]) -> list[str]:
    return sorted(
        f"{app}.{codename}"
        for app, codename in queryset.values_list("content_type__app_label", "codename")
    )


def _user_permissions(user: models.Model) -> list[str]:
    return _permission_labels(user.user_permissions.all())  # type: ignore[attr-defined]


def _group_permissions(group: models.Model) -> list[str]:
    return _permission_labels(group.permissions.all())  # type: ignore[attr-defined]


def _m2m(
    *,
    action: str,
    instance: models.Model,
    reverse: bool,
    model: type[models.Model],
    pk_set: set[Any] | None,
    owner_model: type[models.Model],
    current: Callable[[models.Model], list[str]],
    label: Callable[[models.Model], str],
    audit_action: AccountsAction,
) -> None:
    """One event per owner (the user whose groups, the group or user whose
    permissions) whose set changed, with the set before and after."""
    if action == "pre_clear":
        owners = (
            list(getattr(instance, _reverse_accessor(owner_model, instance)).all())
            if reverse
            else [instance]
        )
        instance._audit_m2m_clear = {o.pk: (o, current(o)) for o in owners}  # type: ignore[attr-defined]
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if action == "post_clear":
        cleared = getattr(instance, "_audit_m2m_clear", {})
        for owner, before in cleared.values():
            after = current(owner)
            if before != after:
                _record(audit_action, owner, _diff(before, after))
        return
    if not pk_set:
        return
    if reverse:
        owners = list(owner_model._default_manager.filter(pk__in=pk_set))
        moved = [label(instance)]
    else:
        owners = [instance]
        moved = [label(obj) for obj in model._default_manager.filter(pk__in=pk_set)]
    for owner in owners:
        after = current(owner)
        if action == "post_add":
            before = sorted(set(after) - set(moved))
        else:
            before = sorted(set(after) | set(moved))
        _record(audit_action, owner, _diff(before, after))


def _diff(before: list[str], after: list[str]) -> dict[str, Any]:
    return {
        "before": before,
        "after": after,
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
    }


def _reverse_accessor(owner_model: type[models.Model], instance: models.Model) -> str:
    User = get_user_model()
    if owner_model is User and isinstance(instance, Group):
        return "user_set"
    if owner_model is User and isinstance(instance, Permission):
        return "user_set"
    return "group_set"  # a permission's groups


def _permission_label(permission: models.Model) -> str:
    return f"{permission.content_type.app_label}.{permission.codename}"  # type: ignore[attr-defined]


def _user_groups_changed(sender: Any, instance: models.Model, **kwargs: Any) -> None:
    _m2m(
        action=kwargs["action"],
        instance=instance,
        reverse=kwargs["reverse"],
        model=kwargs["model"],
        pk_set=kwargs["pk_set"],
        owner_model=get_user_model(),
        current=_group_names,
        label=lambda group: group.name,  # type: ignore[attr-defined]
        audit_action=AccountsAction.USER_GROUPS,
    )


def _user_permissions_changed(sender: Any, instance: models.Model, **kwargs: Any) -> None:
    _m2m(
        action=kwargs["action"],
        instance=instance,
        reverse=kwargs["reverse"],
        model=kwargs["model"],
        pk_set=kwargs["pk_set"],
        owner_model=get_user_model(),
        current=_user_permissions,
        label=_permission_label,
        audit_action=AccountsAction.USER_PERMISSIONS,
    )


def _group_permissions_changed(sender: Any, instance: models.Model, **kwargs: Any) -> None:
    _m2m(
        action=kwargs["action"],
        instance=instance,
        reverse=kwargs["reverse"],
        model=kwargs["model"],
        pk_set=kwargs["pk_set"],
        owner_model=Group,
        current=_group_permissions,
        label=_permission_label,
        audit_action=AccountsAction.GROUP_PERMISSIONS,
    )


def connect() -> None:
    User = get_user_model()
    _FIELDS[User] = USER_FIELDS
    _FIELDS[Group] = GROUP_FIELDS
    _ACTIONS[User] = (
        AccountsAction.ACCOUNT_CREATE,
        AccountsAction.ACCOUNT_CHANGE,
        AccountsAction.ACCOUNT_DELETE,
    )
    _ACTIONS[Group] = (
        AccountsAction.GROUP_CREATE,
        AccountsAction.GROUP_CHANGE,
        AccountsAction.GROUP_DELETE,
    )
    for model in (User, Group):
        uid = model._meta.label_lower
        pre_save.connect(_before_save, sender=model, dispatch_uid=f"audit_pre_save_{uid}")
        post_save.connect(_after_save, sender=model, dispatch_uid=f"audit_post_save_{uid}")
        pre_delete.connect(_before_delete, sender=model, dispatch_uid=f"audit_pre_delete_{uid}")
        post_delete.connect(_after_delete, sender=model, dispatch_uid=f"audit_post_delete_{uid}")
    m2m_changed.connect(
        _user_groups_changed, sender=User.groups.through, dispatch_uid="audit_user_groups"
    )
    m2m_changed.connect(
        _user_permissions_changed,
        sender=User.user_permissions.through,
        dispatch_uid="audit_user_permissions",
    )
    m2m_changed.connect(
        _group_permissions_changed,
        sender=Group.permissions.through,
        dispatch_uid="audit_group_permissions",
    )

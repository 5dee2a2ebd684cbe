"""Demo users: one per role, and enough reviewers for a multi-stage approval."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db import transaction

from audit.actors import SystemActor
from audit.services import record
from govdash.account_audit import acting_as
from govdash.audit_actions import AccountsAction
from govdash.demo import credentials as credential_store
from kernel.roles import Role, grant_role, roles_of


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str
    superuser: bool = False


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("officer", Role.COMPLIANCE_OFFICER),
    DemoUser("reviewer1", Role.REVIEWER),
    DemoUser("reviewer2", Role.REVIEWER),
    DemoUser("reviewer3", Role.REVIEWER),
    DemoUser("auditor", Role.AUDITOR),
    DemoUser("engineer", Role.ML_ENGINEER),
    DemoUser("admin", Role.ADMIN, superuser=True),
)


def new_password() -> str:
    return secrets.token_urlsafe(15)


@transaction.atomic
def demo_user_ensure(
    *, username: str, role: str, password: str, superuser: bool = False
) -> tuple[AbstractUser, bool]:
    """Make ``username`` an active member of ``role`` who logs in with ``password``.

    Returns the user and whether it was created. Creating audits ``user.create``;
    repairing an existing user (password, role, flags) audits ``user.update``;
    the account changes themselves are recorded as ``account.*`` events by
    ``govdash.account_audit``, attributed to the ``demo`` actor.
    """
    with acting_as(SystemActor.DEMO):
        return _ensure(username=username, role=role, password=password, superuser=superuser)


def _ensure(
    *, username: str, role: str, password: str, superuser: bool
) -> tuple[AbstractUser, bool]:
    User = get_user_model()
    user = User.objects.select_for_update().filter(username=username).first()
    if user is None:
        user = User.objects.create_user(
            username=username,
            password=password,
            is_staff=superuser,
            is_superuser=superuser,
        )
        grant_role(user, Role(role))
        record(
            action=AccountsAction.USER_CREATE,
            actor=None,
            system_actor=SystemActor.DEMO,
            target=user,
            data={"role": role},
        )
        return user, True

    changed: list[str] = []
    if not user.check_password(password):
        user.set_password(password)
        changed.append("password")
    for flag in ("is_active", "is_staff", "is_superuser"):
        wanted = True if flag == "is_active" else superuser
        if getattr(user, flag) != wanted:
            setattr(user, flag, wanted)
            changed.append(flag)
    if changed:
        user.save()
    if role not in roles_of(user):
        grant_role(user, Role(role))
        changed.append("role")
    if changed:
        record(
            action=AccountsAction.USER_UPDATE,
            actor=None,
            system_actor=SystemActor.DEMO,
            target=user,
            data={"role": role, "changed": changed},
        )
    return user, False


def ensure_demo_users(
    *, path: Path = credential_store.DEFAULT_PATH
) -> list[credential_store.Credential]:
    """Create or repair every demo user, reusing the passwords stored at ``path``."""
    stored = {c.username: c.password for c in credential_store.load(path)}
    wanted = [
        credential_store.Credential(
            role=str(spec.role),
            username=spec.username,
            password=stored.get(spec.username) or new_password(),
        )
        for spec in DEMO_USERS
    ]
    # Stored before any user gets a new password, so none ends up with one nobody knows.
    credential_store.save(wanted, path)
    for spec, credential in zip(DEMO_USERS, wanted, strict=True):
        demo_user_ensure(
            username=spec.username,
            role=str(spec.role),
            password=credential.password,
            superuser=spec.superuser,
        )
    return wanted

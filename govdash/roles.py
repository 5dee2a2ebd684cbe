"""The roles operators rely on (CONTRACT.md).

Each role is a Django group. The data migration creates them; ``sync_roles``
also runs after every ``migrate`` (and every test-database flush), so the
grants below are always in force. Later features add their permissions here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.apps.registry import Apps


class Role(StrEnum):
    COMPLIANCE_OFFICER = "compliance-officer"
    REVIEWER = "reviewer"
    AUDITOR = "auditor"
    ML_ENGINEER = "ml-engineer"
    ADMIN = "admin"


ALL_ROLES: tuple[str, ...] = tuple(role.value for role in Role)

# role -> "app_label.codename" permissions it holds.
GRANTS: dict[str, tuple[str, ...]] = {
    Role.ADMIN: (
        "audit.view_auditevent",
        "audit.export_auditevent",
        "govdash.view_apitoken",
        "govdash.manage_apitoken",
    ),
    Role.AUDITOR: ("audit.view_auditevent", "audit.export_auditevent"),
    Role.COMPLIANCE_OFFICER: ("audit.view_auditevent",),
    Role.REVIEWER: (),
    Role.ML_ENGINEER: (),
}


def sync_roles(apps: Apps, **_: Any) -> None:
    """Create every role and grant its permissions; never removes anything."""
    from django.contrib.auth.management import create_permissions

    labels = {grant.split(".")[0] for grants in GRANTS.values() for grant in grants}
    for label in labels:
        config = apps.get_app_config(label)
        # Migration state apps are stubs without models_module; create_permissions
        # skips apps whose models_module is unset.
        if not getattr(config, "models_module", None):
            config.models_module = True  # type: ignore[assignment]
        create_permissions(config, verbosity=0, apps=apps)
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role in ALL_ROLES:
        group, _created = group_model.objects.get_or_create(name=role)
        for grant in GRANTS[role]:
            app_label, codename = grant.split(".")
            group.permissions.add(
                permission_model.objects.get(content_type__app_label=app_label, codename=codename)
            )

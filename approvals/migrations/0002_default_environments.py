"""The default environments and workflows (docs/approvals.md); admins change them later."""

from django.db import migrations

DEFAULTS = [
    {
        "name": "staging",
        "position": 10,
        "allowed": ["public", "official"],
        "promotion": [("Review", 1, ["reviewer"])],
        "rollback": [("Rollback review", 1, ["reviewer"])],
    },
    {
        "name": "production",
        "position": 20,
        "allowed": ["public", "official", "secret"],
        "promotion": [
            ("Compliance review", 1, ["compliance-officer"]),
            ("Security review", 1, ["reviewer"]),
            ("Release sign-off", 2, ["reviewer"]),
        ],
        "rollback": [("Rollback review", 1, ["reviewer"])],
    },
]


def create_defaults(apps, schema_editor):
    environment_model = apps.get_model("approvals", "Environment")
    stage_model = apps.get_model("approvals", "Stage")
    for spec in DEFAULTS:
        environment, created = environment_model.objects.get_or_create(
            name=spec["name"],
            defaults={
                "position": spec["position"],
                "alias": spec["name"],
                "allowed_classifications": spec["allowed"],
            },
        )
        if not created:
            continue
        for workflow in ("promotion", "rollback"):
            for position, (name, required, roles) in enumerate(spec[workflow]):
                stage_model.objects.create(
                    environment=environment,
                    workflow=workflow,
                    position=position,
                    name=name,
                    required=required,
                    roles=roles,
                )


class Migration(migrations.Migration):
    dependencies = [("approvals", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]

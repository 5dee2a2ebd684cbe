"""Ship the default policy, published, so that runs are assessed from the start."""

from pathlib import Path

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.utils import timezone

POLICY_FILE = Path(__file__).resolve().parent.parent / "default_policy.yaml"


def create(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    from reports.services import _rules_hash, parse_policy_yaml

    parsed = parse_policy_yaml(POLICY_FILE.read_text())
    Policy = apps.get_model("reports", "Policy")
    PolicyVersion = apps.get_model("reports", "PolicyVersion")
    policy, _ = Policy.objects.get_or_create(
        slug=parsed["slug"],
        defaults={"name": parsed["name"], "description": parsed["description"]},
    )
    if not PolicyVersion.objects.filter(policy=policy).exists():
        PolicyVersion.objects.create(
            policy=policy,
            number=1,
            rules=parsed["rules"],
            notes="Shipped with govdash.",
            content_hash=_rules_hash(parsed["rules"]),
            published_at=timezone.now(),
        )


def remove(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    apps.get_model("reports", "PolicyVersion").objects.filter(policy__slug="default").delete()
    apps.get_model("reports", "Policy").objects.filter(slug="default").delete()


class Migration(migrations.Migration):
    dependencies = [("reports", "0001_initial")]

    operations = [migrations.RunPython(create, remove)]

"""Environments in the admin: unsatisfiable workflows refused with the reason; the
hook secret write-only and stored encrypted."""

from __future__ import annotations

import pytest

from approvals.audit_actions import ApprovalsAction
from approvals.models import Environment
from audit.models import AuditEvent
from tracking.secrets import decrypt

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, world):  # type: ignore[no-untyped-def]
    root = world.admin
    root.is_staff = True
    root.is_superuser = True
    root.save()
    client.force_login(root)
    return client


def _form(stages, **fields):  # type: ignore[no-untyped-def]
    data = {
        "name": "canary",
        "position": "30",
        "alias": "canary",
        "allowed_classifications": '["public"]',
        "hook_kind": "none",
        "hook_url": "",
        "hook_ref": "",
        "hook_secret": "",
        "stages-TOTAL_FORMS": str(len(stages)),
        "stages-INITIAL_FORMS": "0",
        "stages-MIN_NUM_FORMS": "0",
        "stages-MAX_NUM_FORMS": "1000",
        **fields,
    }
    for index, (workflow, position, name, required, roles) in enumerate(stages):
        data.update(
            {
                f"stages-{index}-workflow": workflow,
                f"stages-{index}-position": str(position),
                f"stages-{index}-name": name,
                f"stages-{index}-required": str(required),
                f"stages-{index}-roles": roles,
            }
        )
    return data


def test_a_workflow_nobody_can_complete_is_refused_with_the_reason(admin_client):
    response = admin_client.post(
        "/admin/approvals/environment/add/",
        _form(
            [
                ("promotion", 0, "Sign-off", 5, '["reviewer"]'),
                ("rollback", 0, "Rollback", 1, '["reviewer"]'),
            ]
        ),
    )
    assert response.status_code == 200
    assert "stage &#x27;Sign-off&#x27; needs 5 approval(s) from reviewer" in response.text
    assert not Environment.objects.filter(name="canary").exists()


def test_unknown_roles_are_refused(admin_client):
    response = admin_client.post(
        "/admin/approvals/environment/add/",
        _form(
            [
                ("promotion", 0, "Sign-off", 1, '["reviewers"]'),
                ("rollback", 0, "Rollback", 1, '["reviewer"]'),
            ]
        ),
    )
    assert "Unknown role(s): reviewers" in response.text
    assert not Environment.objects.filter(name="canary").exists()


def test_a_satisfiable_workflow_is_saved_audited_and_its_secret_encrypted(admin_client):
    response = admin_client.post(
        "/admin/approvals/environment/add/",
        _form(
            [
                ("promotion", 0, "Sign-off", 2, '["reviewer"]'),
                ("rollback", 0, "Rollback", 1, '["reviewer"]'),
            ],
            hook_kind="webhook",
            hook_url="https://hooks.example.org/deploy",
            hook_secret="s3cret-hmac-key",
        ),
    )
    assert response.status_code == 302, response.text[:2000]
    environment = Environment.objects.get(name="canary")
    assert environment.hook_secret_encrypted
    assert "s3cret" not in environment.hook_secret_encrypted
    assert decrypt(environment.hook_secret_encrypted) == "s3cret-hmac-key"
    assert environment.stages.count() == 2
    event = AuditEvent.objects.get(action=ApprovalsAction.ENVIRONMENT_CHANGE)
    assert event.data == {"environment": "canary", "change": "added"}
    page = admin_client.get(f"/admin/approvals/environment/{environment.pk}/change/")
    assert "s3cret-hmac-key" not in page.text

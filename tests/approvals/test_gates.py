"""Each gate failing on its own refuses the request with its reason (audited)."""

from __future__ import annotations

import pytest

from approvals.audit_actions import ApprovalsAction
from approvals.errors import GateFailed
from approvals.models import PromotionRequest
from audit.models import AuditEvent
from reports.services import policy_publish, policy_save_draft
from tests.approvals.conftest import GOOD_TAGS, assess
from tests.conftest import DEFAULT_POLICY_FILE
from tracking.models import ModelVersion, Run

pytestmark = pytest.mark.django_db


def _retag(world, **tags):  # type: ignore[no-untyped-def]
    merged = {**GOOD_TAGS, **tags}
    ModelVersion.objects.filter(pk=world.version.pk).update(
        tags={k: v for k, v in merged.items() if v is not None}
    )


def _refused(ask, environment="staging"):  # type: ignore[no-untyped-def]
    with pytest.raises(GateFailed) as refused:
        ask(environment)
    assert not PromotionRequest.objects.exists()
    event = AuditEvent.objects.get(action=ApprovalsAction.REQUEST_REFUSED)
    assert event.data["reasons"] == refused.value.reasons
    return refused.value.reasons


@pytest.mark.parametrize("missing", ["classification", "compliance", "department"])
def test_a_missing_required_tag(world, ask, missing):
    _retag(world, **{missing: None})
    # (Without the version's classification, the run's still counts for the environment.)
    assert _refused(ask) == [f"required_tags: the version lacks the tag(s): {missing}"]


def test_an_unknown_classification(world, ask):
    _retag(world, classification="top-secret")
    reasons = _refused(ask)
    assert reasons == [
        "required_tags: the version's classification 'top-secret' is not one of "
        "public, official, secret"
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("failed", "security_scan: security_scan is 'failed', not 'passed'"),
        (None, "security_scan: the version has no security_scan tag"),
    ],
)
def test_the_security_scan_must_have_passed(world, ask, value, reason):
    _retag(world, security_scan=value)
    assert _refused(ask) == [reason]


def test_the_classification_must_be_allowed_in_the_environment(world, ask):
    _retag(world, classification="secret")
    assert _refused(ask) == [
        "classification_allowed: secret models may not go to staging (it accepts: public, official)"
    ]


def test_the_stricter_of_version_and_run_classification_counts(world, ask):
    _retag(world, classification="public")
    Run.objects.filter(pk=world.run.pk).update(tags={"classification": "secret"})
    # The run's facts changed: assess it again so only the classification gate speaks.
    run = Run.objects.get(pk=world.run.pk)
    assess(run, world.policy_version)
    reasons = _refused(ask)
    assert reasons == [
        "classification_allowed: secret models may not go to staging (it accepts: public, official)"
    ]
    assert ask("production").status == "open"


def test_the_source_run_must_be_compliant(world, ask):
    Run.objects.filter(pk=world.run.pk).update(user_id="", facts_hash="changed")
    run = Run.objects.get(pk=world.run.pk)
    assess(run, world.policy_version)
    reasons = _refused(ask)
    assert len(reasons) == 1
    assert reasons[0].startswith("run_compliant: the source run is non-compliant under")
    assert "audit-logging" in reasons[0]


def test_an_assessment_of_older_content_does_not_count(world, ask):
    Run.objects.filter(pk=world.run.pk).update(facts_hash="newer content")
    reasons = _refused(ask)
    assert len(reasons) == 1
    assert "out of date" in reasons[0]


def test_a_newer_policy_not_yet_applied_does_not_count(world, ask):
    draft = policy_save_draft(text=DEFAULT_POLICY_FILE.read_text(), actor=None, notes="v2")
    policy_publish(version=draft, actor=None)
    reasons = _refused(ask)
    assert len(reasons) == 1
    assert reasons[0].startswith("run_compliant: the source run's assessment is out of date")


def test_every_failing_gate_is_named(world, ask):
    _retag(world, classification="secret", security_scan="pending", compliance=None)
    reasons = _refused(ask)
    assert [reason.split(":")[0] for reason in reasons] == [
        "required_tags",
        "security_scan",
        "classification_allowed",
    ]

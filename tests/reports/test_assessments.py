from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEvent
from reports.models import Assessment, RuleResult
from reports.selectors.assessing import runs_needing_assessment
from reports.services import (
    PolicyError,
    PolicyLocked,
    assess_runs,
    parse_policy_yaml,
    policy_export_yaml,
    policy_publish,
    policy_save_draft,
)
from tests import factories

pytestmark = pytest.mark.django_db


def _compliant(**overrides):  # type: ignore[no-untyped-def]
    return factories.run(**overrides)


def test_default_policy_passes_a_compliant_run_with_evidence_on_every_rule(default_policy):
    run = _compliant()
    tally = assess_runs(run_ids=[run.pk], version=default_policy)
    assert tally["compliant"] == 1
    assessment = Assessment.objects.get(run=run)
    assert (assessment.verdict, assessment.risk) == ("compliant", "none")
    results = {r.rule_id: r for r in assessment.results.all()}
    assert set(results) == {
        "data-classification",
        "audit-logging",
        "access-control",
        "encryption",
        "retention",
    }
    assert results["data-classification"].observed == "official"
    assert results["retention"].outcome == "not_applicable"
    assert all(r.message for r in results.values())


def test_default_policy_names_exactly_what_to_fix(default_policy):
    exp = factories.experiment(tags={}, artifact_location="http://store/1")
    run = factories.run(
        exp,
        tags={"classification": "top-secret"},
        artifact_uri="http://store/1/r/artifacts",
        user_id="",
        start_time=timezone.now() - dt.timedelta(days=2000),
    )
    assess_runs(run_ids=[run.pk], version=default_policy)
    assessment = Assessment.objects.get(run=run)
    assert assessment.verdict == "non_compliant"
    assert assessment.risk == "critical"  # high failures, five of them
    failed = {r.rule_id: r for r in assessment.results.filter(outcome="fail")}
    assert set(failed) == {
        "data-classification",
        "audit-logging",
        "access-control",
        "encryption",
        "retention",
    }
    assert "top-secret" in failed["data-classification"].message
    assert "user" in failed["audit-logging"].message
    assert "http" in failed["encryption"].message


def test_same_run_same_content_same_version_is_assessed_once(default_policy):
    run = _compliant()
    assess_runs(run_ids=[run.pk], version=default_policy)
    tally = assess_runs(run_ids=[run.pk], version=default_policy)
    assert tally == {"skipped": 1}
    assert Assessment.objects.filter(run=run).count() == 1
    assert RuleResult.objects.count() == 5


def test_changed_run_gets_a_new_current_assessment_and_keeps_its_history(default_policy):
    from tracking.models import Run

    run = factories.run(tags={"classification": "nope"})
    assess_runs(run_ids=[run.pk], version=default_policy)
    Run.objects.filter(pk=run.pk).update(
        tags={"classification": "secret"}, content_hash="new", facts_hash="new"
    )
    assess_runs(run_ids=[run.pk], version=default_policy)
    history = list(Assessment.objects.filter(run=run).order_by("assessed_at", "pk"))
    assert [a.verdict for a in history] == ["non_compliant", "compliant"]
    assert [a.is_current for a in history] == [False, True]


def test_a_run_has_at_most_one_current_assessment_per_policy(default_policy):
    run = _compliant()
    assess_runs(run_ids=[run.pk], version=default_policy)
    current = Assessment.objects.get(run=run)
    with pytest.raises(IntegrityError), transaction.atomic():
        Assessment.objects.create(
            run=run,
            policy=current.policy,
            policy_version=default_policy,
            run_content_hash="other",
            verdict="compliant",
            risk="none",
        )


def test_assessing_is_audited_per_batch_not_per_run(default_policy):
    runs = [factories.run() for _ in range(3)]
    assess_runs(run_ids=[r.pk for r in runs], version=default_policy)
    event = AuditEvent.objects.get(action="reports.assess")
    assert event.data["runs"] == 3
    assert event.data["verdicts"] == {"compliant": 3}


def test_runs_needing_assessment_are_new_or_changed(default_policy):
    from tracking.models import Run

    done = _compliant()
    fresh = _compliant()
    assess_runs(run_ids=[done.pk], version=default_policy)
    assert list(runs_needing_assessment(default_policy)) == [fresh]
    Run.objects.filter(pk=done.pk).update(content_hash="changed", facts_hash="changed")
    assert set(runs_needing_assessment(default_policy)) == {done, fresh}


def test_deleted_and_gone_runs_are_not_assessed(default_policy):
    factories.run(lifecycle_stage="deleted")
    factories.run(gone_at=timezone.now())
    assert not runs_needing_assessment(default_policy).exists()


# --- policies ------------------------------------------------------------------------------


POLICY = """
name: Model cards
rules:
  - id: accuracy
    title: Accuracy is good enough
    severity: medium
    check: {kind: metric_threshold, key: accuracy, op: ">=", value: 0.8}
"""


def test_a_draft_cannot_assess(make_user):
    version = policy_save_draft(text=POLICY, actor=None)
    with pytest.raises(PolicyLocked):
        assess_runs(run_ids=[], version=version)


def test_editing_a_published_version_creates_the_next_version():
    first = policy_save_draft(text=POLICY, actor=None)
    policy_publish(version=first, actor=None)
    second = policy_save_draft(text=POLICY.replace("0.8", "0.85"), actor=None)
    assert (first.number, second.number) == (1, 2)
    first.refresh_from_db()
    assert first.rules[0]["check"]["value"] == 0.8  # untouched
    assert first.policy.current_version() == first  # until v2 is published
    with pytest.raises(PolicyLocked):
        policy_publish(version=first, actor=None)


def test_editing_a_draft_replaces_it_in_place():
    first = policy_save_draft(text=POLICY, actor=None)
    again = policy_save_draft(text=POLICY.replace("0.8", "0.9"), actor=None)
    assert again.pk == first.pk
    assert again.rules[0]["check"]["value"] == 0.9


def test_export_then_import_round_trips(default_policy):
    text = policy_export_yaml(default_policy)
    assert parse_policy_yaml(text)["rules"] == default_policy.rules


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("rules: [", "line 1"),
        ("- a list", "document"),
        ("rules: []", "name"),
        ("name: X\nrules: []", "rules"),
        ("name: X\nowner: me\nrules: []", "owner"),
        (POLICY.replace("medium", "severe"), "rules[0].severity"),
        (POLICY.replace("value: 0.8", 'value: "high"'), "rules[0].check.value"),
        (POLICY.replace("metric_threshold", "metric_treshold"), "rules[0].check.kind"),
    ],
)
def test_malformed_policy_is_rejected_at_import_naming_the_field(text, field):
    with pytest.raises(PolicyError) as excinfo:
        policy_save_draft(text=text, actor=None)
    assert excinfo.value.field == field

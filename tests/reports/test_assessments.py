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


def _chunk_queries(version, runs):  # type: ignore[no-untyped-def]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assess_runs(run_ids=[r.pk for r in runs], version=version)
    return [q["sql"] for q in captured.captured_queries]


def test_a_chunk_of_new_runs_costs_the_same_queries_as_one_run(default_policy):
    from django.db import connection

    assert default_policy.policy is not None  # loaded once, as the job does
    one = _chunk_queries(default_policy, [_compliant()])
    fifty = _chunk_queries(default_policy, [_compliant() for _ in range(50)])
    # Nothing to take "current" from: no update of older assessments.
    assert not [sql for sql in fifty if sql.startswith('UPDATE "reports_assessment"')]
    if connection.vendor == "postgresql":
        # Runs, model tags, what is assessed; ids; one COPY each for the
        # assessments and their 250 rule results; the audit event (6, with
        # its savepoint and lock); the chunk's savepoint in this test; and the
        # dashboard rollups' part (reports.rollups.counting): the runs' advisory
        # locks, their current assessments before and after, and the deltas.
        assert len(fifty) == len(one) == 19
        copies = [sql.split(" (")[0] for sql in fifty if sql.startswith("COPY")]
        assert copies == ['COPY "reports_assessment"', 'COPY "reports_ruleresult"']
    assert RuleResult.objects.count() == 51 * 5


def test_a_run_back_to_earlier_content_makes_that_assessment_current_again(default_policy):
    from tracking.models import Run

    run = factories.run(tags={"classification": "nope"})
    assess_runs(run_ids=[run.pk], version=default_policy)
    Run.objects.filter(pk=run.pk).update(tags={"classification": "secret"}, facts_hash="new")
    assess_runs(run_ids=[run.pk], version=default_policy)
    Run.objects.filter(pk=run.pk).update(tags={"classification": "nope"}, facts_hash=run.facts_hash)
    tally = assess_runs(run_ids=[run.pk], version=default_policy)
    assert tally == {"skipped": 1}
    history = list(Assessment.objects.filter(run=run).order_by("pk"))
    assert [(a.verdict, a.is_current) for a in history] == [
        ("non_compliant", True),
        ("compliant", False),
    ]
    assert RuleResult.objects.count() == 10


@pytest.mark.parametrize(
    "value",
    [
        None,
        "text \t\n\\ é",
        7,
        -0.0,
        True,
        {"b": [1, 2.5, None], "a": {"d": "x", "c": False}},
        ["x", {"z": 1, "y": 2}],
        (1, 2),  # a tuple: the JSON text path
        {"when": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)},
        {1: "number key"},
        float("nan"),
    ],
)
def test_evidence_is_stored_as_canonical_json_reads_back(value):  # type: ignore[no-untyped-def]
    import json
    import math

    from audit.chain import canonical_json
    from reports.services import _json_direct, _jsonable

    expected = json.loads(canonical_json(value))
    got = _jsonable(value)
    if isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(got)
    else:
        assert got == expected
        assert json.dumps(got) == json.dumps(expected)  # keys in the same (sorted) order
    assert _json_direct({"a": [1, "x", None]}) == {"a": [1, "x", None]}

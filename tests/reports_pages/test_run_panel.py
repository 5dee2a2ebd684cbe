"""The run compliance panel that the run detail page includes."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from django.template.loader import render_to_string
from django.utils import timezone

from reports.models import Policy
from reports.selectors.run_panel import run_compliance
from reports.services import assess_runs, policy_publish, policy_save_draft
from tests import factories
from tests.reports_pages.conftest import SCRIPT
from tracking.models import Run

pytestmark = pytest.mark.django_db

TEMPLATE = "reports/includes/run_compliance.html"


def _panel(run: Run) -> str:
    run = Run.objects.select_related("source", "experiment").get(pk=run.pk)
    return render_to_string(TEMPLATE, {"compliance": run_compliance(run), "run": run})


def _bad_run() -> Run:
    exp = factories.experiment(tags={}, artifact_location="http://store/1")
    return factories.run(
        exp,
        tags={"classification": "Top Secret "},
        artifact_uri="http://store/1/r/artifacts",
        user_id="",
        start_time=timezone.now() - dt.timedelta(days=2000),
    )


def test_panel_says_exactly_what_to_fix(default_policy):  # type: ignore[no-untyped-def]
    run = _bad_run()
    assess_runs(run_ids=[run.pk], version=default_policy)
    html = _panel(run)
    assert "Non-compliant" in html
    assert "What to fix" in html
    failing = {r.rule_id: r for r in run_compliance(run)[0].to_fix}
    assert set(failing) == {
        "data-classification",
        "audit-logging",
        "access-control",
        "encryption",
        "retention",
    }
    for rule in default_policy.rules:
        # The evidence message and the rule's how-to-fix description, both shown.
        assert failing[rule["id"]].message
        assert failing[rule["id"]].description == rule["description"]
    assert (
        "Tag classification is &#x27;Top Secret &#x27;; allowed: public, official, secret." in html
    )
    assert "Fix: set the tag on the run in MLflow to one of the three values." in html
    assert "How to fix:" in html
    # The most severe failures come first.
    order = [r.severity for r in run_compliance(run)[0].to_fix]
    assert order[0] == "high"
    assert order[-1] == "low"


def test_panel_of_a_compliant_run(default_policy):  # type: ignore[no-untyped-def]
    run = factories.run()
    assess_runs(run_ids=[run.pk], version=default_policy)
    html = _panel(run)
    assert "Every rule passes; nothing to fix." in html
    assert "What to fix" not in html
    assert html.count('<tr data-rule="') == len(default_policy.rules)


def test_panel_shows_history_and_a_pending_reassessment(default_policy):  # type: ignore[no-untyped-def]
    run = _bad_run()
    assess_runs(run_ids=[run.pk], version=default_policy)
    document = yaml.safe_load(open(default_policy_path()).read())  # noqa: SIM115
    document["rules"] = document["rules"][:2]
    v2 = policy_publish(
        version=policy_save_draft(text=yaml.safe_dump(document), actor=None), actor=None
    )
    (item,) = run_compliance(run)
    assert item.current_version == v2
    assert "v2 is now in force" in item.stale_reason
    assess_runs(run_ids=[run.pk], version=v2)
    (item,) = run_compliance(run)
    assert item.stale_reason == ""
    assert [(a.policy_version.number, a.is_current) for a in item.history] == [
        (2, True),
        (1, False),
    ]
    html = _panel(run)
    assert "Assessment history (2)" in html
    Run.objects.filter(pk=run.pk).update(facts_hash="new")
    run.refresh_from_db()
    assert "The run changed after this assessment" in _panel(run)


def default_policy_path():  # type: ignore[no-untyped-def]
    from django.conf import settings

    return settings.BASE_DIR / "reports" / "default_policy.yaml"


def test_panel_for_a_run_not_yet_assessed(default_policy):  # type: ignore[no-untyped-def]
    html = _panel(factories.run())
    assert "Not assessed yet under v1" in html


def test_panel_leaves_out_policies_for_other_sources(default_policy):  # type: ignore[no-untyped-def]
    Policy.objects.create(slug="gitlab-only", name="GitLab only", source_names=["gitlab"])
    run = factories.run()
    assert [item.policy.slug for item in run_compliance(run)] == ["default"]


def test_panel_escapes_synced_values(default_policy):  # type: ignore[no-untyped-def]
    exp = factories.experiment(tags={"owner": SCRIPT})
    run = factories.run(exp, tags={"classification": SCRIPT}, user_id=SCRIPT)
    assess_runs(run_ids=[run.pk], version=default_policy)
    html = _panel(run)
    assert SCRIPT not in html
    assert "&lt;script&gt;" in html


def test_panel_query_count_does_not_grow_with_history(default_policy, django_assert_num_queries):  # type: ignore[no-untyped-def]
    run = _bad_run()
    assess_runs(run_ids=[run.pk], version=default_policy)
    for number in range(3):
        Run.objects.filter(pk=run.pk).update(facts_hash=f"h{number}")
        assess_runs(run_ids=[run.pk], version=default_policy)
    run = Run.objects.select_related("source", "experiment").get(pk=run.pk)
    with django_assert_num_queries(4):
        items = run_compliance(run)
        render_to_string(TEMPLATE, {"compliance": items, "run": run})
    assert len(items[0].history) == 4

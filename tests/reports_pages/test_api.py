"""The compliance API at /api/v1/."""

from __future__ import annotations

import pytest
import yaml
from django.test import Client

from govdash.services import token_create
from reports.models import Assessment
from reports.services import assess_runs, policy_publish, policy_save_draft
from tests.reports_pages.conftest import SCRIPT, SUMMARY_API_QUERIES, ComplianceMirror, expected

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(client: Client, make_user) -> Client:  # type: ignore[no-untyped-def]
    client.force_login(make_user("ana", "ml-engineer"))
    return client


def _ok(response) -> dict:  # type: ignore[no-untyped-def,type-arg]
    assert response.status_code == 200, (response.status_code, response.content[:500])
    return response.json()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/compliance/summary",
        "/api/v1/runs/abc/assessments",
        "/api/v1/policies",
        "/api/v1/policies/default",
        "/api/v1/policies/default/versions/1.yaml",
    ],
)
def test_anonymous_callers_get_401(client: Client, default_policy, path: str):  # type: ignore[no-untyped-def]
    assert client.get(path).status_code == 401


def test_summary_has_the_dashboard_figures(reader: Client, compliance_mirror: ComplianceMirror):
    body = _ok(reader.get("/api/v1/compliance/summary"))
    want = expected(compliance_mirror.version)
    assert body["policy"] == {
        "slug": "default",
        "name": "Default ML governance baseline",
        "version": 1,
    }
    assert body["runs"] == want.runs
    assert body["not_assessed"] == want.not_assessed
    assert body["awaiting_assessment"] == want.awaiting
    totals = body["totals"]
    assert totals["total"] == want.assessed
    assert totals["non_compliant"] == want.verdicts["non_compliant"]
    assert totals["compliance_rate"] == round(100 * want.verdicts["compliant"] / want.assessed, 1)
    assert totals["risk"] == {
        level: want.risks[level] for level in ("none", "low", "medium", "high", "critical")
    }
    assert {t["key"]: t["total"] for t in body["by_department"]} == {
        key: counter["total"] for key, counter in want.by_department.items()
    }
    assert {t["key"]: t["source"] for t in body["by_experiment"]} == {
        str(exp.pk): exp.source.name
        for exp in compliance_mirror.experiments.values()
        if str(exp.pk) in want.by_experiment
    }
    assert {r["rule_id"]: r["runs"] for r in body["failing_rules"]} == dict(want.failing)
    assert {p["week_start"] for p in body["trend"] if p["compliant"] + p["non_compliant"]} == {
        week.isoformat() for week in want.weeks
    }
    latest = body["latest_non_compliant"][0]
    assert set(latest) == {
        "id",
        "run_id",
        "run_name",
        "experiment",
        "source",
        "policy_version",
        "risk",
        "score",
        "failed_rules",
        "assessed_at",
    }
    assert latest["failed_rules"]


def test_summary_takes_the_dashboard_filters(reader: Client, compliance_mirror: ComplianceMirror):
    body = _ok(
        reader.get(
            "/api/v1/compliance/summary",
            {"source": "alpha", "classification": "official", "since": "2026-03-01"},
        )
    )
    want = expected(
        compliance_mirror.version,
        lambda run: (
            run.source.name == "alpha" and run.classification.strip().casefold() == "official"
        ),
    )
    assert body["filters"] == {
        "policy": "default",
        "source": "alpha",
        "classification": "official",
        "since": "2026-03-01",
    }
    assert body["runs"] == want.runs
    assert body["totals"]["total"] == want.assessed


def test_summary_rejects_unknown_filter_values(reader: Client, compliance_mirror):  # type: ignore[no-untyped-def]
    response = reader.get("/api/v1/compliance/summary", {"source": "nope"})
    assert response.status_code == 422
    assert "source" in response.json()["detail"]


def test_summary_with_a_bearer_token(client: Client, make_user, compliance_mirror):  # type: ignore[no-untyped-def]
    bot = make_user("ci-bot", "ml-engineer")
    _, secret = token_create(user=bot, name="ci", created_by=bot)
    response = client.get(
        "/api/v1/compliance/summary", headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 200


def test_run_assessments_give_current_results_and_history(
    reader: Client, compliance_mirror: ComplianceMirror
):
    run = compliance_mirror.hostile
    # A second version re-assesses the run: the first assessment becomes history.
    text = yaml.safe_dump(
        {
            "slug": "default",
            "name": "Default ML governance baseline",
            "rules": [
                {
                    "id": "data-classification",
                    "title": "Classification",
                    "description": "Set the classification tag.",
                    "severity": "critical",
                    "check": {"kind": "tag_present", "key": "classification"},
                }
            ],
        }
    )
    v2 = policy_publish(version=policy_save_draft(text=text, actor=None), actor=None)
    assess_runs(run_ids=[run.pk], version=v2)  # type: ignore[union-attr]
    body = _ok(reader.get(f"/api/v1/runs/{run.run_id}/assessments"))  # type: ignore[union-attr]
    assert body["run_id"] == run.run_id  # type: ignore[union-attr]
    (policy,) = body["policies"]
    assert policy["policy"] == "default"
    assert policy["version_in_force"] == 2
    current = policy["current"]
    assert current["policy_version"] == 2
    assert current["is_current"] is True
    assert [r["rule_id"] for r in current["results"]] == ["data-classification"]
    assert current["results"][0]["description"] == "Set the classification tag."
    assert current["results"][0]["observed"] == SCRIPT
    assert [(h["policy_version"], h["is_current"]) for h in policy["history"]] == [
        (2, True),
        (1, False),
    ]
    first = Assessment.objects.get(run=run, policy_version__number=1)
    assert policy["history"][1]["verdict"] == first.verdict


def test_run_assessments_of_an_unknown_run_is_404(reader: Client, default_policy):  # type: ignore[no-untyped-def]
    assert reader.get("/api/v1/runs/nope/assessments").status_code == 404


def test_policies_list_and_detail(reader: Client, default_policy):  # type: ignore[no-untyped-def]
    (policy,) = _ok(reader.get("/api/v1/policies"))
    assert policy == {
        "slug": "default",
        "name": "Default ML governance baseline",
        "description": default_policy.policy.description,
        "sources": [],
        "is_active": True,
        "version_in_force": 1,
        "draft_version": None,
    }
    body = _ok(reader.get("/api/v1/policies/default"))
    (version,) = body["versions"]
    assert version["state"] == "in_force"
    assert [rule["id"] for rule in version["rules"]] == [r["id"] for r in default_policy.rules]
    assert version["rules"][0]["explained"].startswith('The run\'s tag "classification"')
    assert reader.get("/api/v1/policies/nope").status_code == 404


def test_policy_version_as_yaml(reader: Client, default_policy):  # type: ignore[no-untyped-def]
    response = reader.get("/api/v1/policies/default/versions/1.yaml")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/yaml")
    assert yaml.safe_load(response.content)["rules"] == default_policy.rules
    assert reader.get("/api/v1/policies/default/versions/9.yaml").status_code == 404


def test_policy_yaml_export_is_audited_like_the_page_download(
    reader: Client, make_user, default_policy
):  # type: ignore[no-untyped-def]
    from audit.models import AuditEvent

    assert reader.get("/api/v1/policies/default/versions/1.yaml").status_code == 200
    by_session = AuditEvent.objects.get(action="policy.export")
    assert by_session.actor_username == "ana"
    assert by_session.target_id == str(default_policy.pk)
    assert by_session.data == {"policy": "default", "number": 1}

    ci = make_user("ci-bot", "ml-engineer")
    _, secret = token_create(user=ci, name="gate", created_by=make_user("ada", "admin"))
    response = Client().get(
        "/api/v1/policies/default/versions/1.yaml", HTTP_AUTHORIZATION=f"Bearer {secret}"
    )
    assert response.status_code == 200
    assert AuditEvent.objects.filter(action="policy.export", actor_username="ci-bot").exists()
    # A version that does not exist exports nothing.
    assert reader.get("/api/v1/policies/default/versions/9.yaml").status_code == 404
    assert AuditEvent.objects.filter(action="policy.export").count() == 2


def test_summary_query_count_is_pinned(
    reader: Client, compliance_mirror: ComplianceMirror, django_assert_num_queries
):  # type: ignore[no-untyped-def]
    # The same number as with 100,000 runs (test_scale).
    with django_assert_num_queries(SUMMARY_API_QUERIES):
        assert reader.get("/api/v1/compliance/summary").status_code == 200

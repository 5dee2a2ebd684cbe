from __future__ import annotations

import pytest

from reports.models import Assessment
from reports.selectors.assessing import runs_needing_assessment
from reports.services import assess_runs
from reports.writeback import writeback_assessments
from tracking.models import Run
from tracking.services import source_create, sync_execute, sync_request

pytestmark = pytest.mark.django_db


def test_writeback_tags_runs_on_mlflow_and_never_causes_a_reassessment(
    mlflow_server, world, default_policy
):
    source = source_create(name="wb", url=mlflow_server.url, writeback_enabled=True)
    sync_execute(sync_run=sync_request(source=source))
    target = Run.objects.get(source=source, run_id=world.runs[1])
    assess_runs(run_ids=[target.pk], version=default_policy)
    assessment = Assessment.objects.get(run=target)
    try:
        assert writeback_assessments(assessment_ids=[assessment.pk]) == {
            "written": 1,
            "failed": 0,
        }
        tags = world.client.get_run(target.run_id).data.tags
        assert tags["govdash.compliance"] == assessment.verdict
        assert tags["govdash.risk"] == assessment.risk

        sync_execute(sync_run=sync_request(source=source))
        target.refresh_from_db()
        assert target.tags["govdash.compliance"] == assessment.verdict  # the mirror is faithful
        assert not runs_needing_assessment(default_policy).filter(pk=target.pk).exists()
    finally:
        world.client.delete_tag(target.run_id, "govdash.compliance")
        world.client.delete_tag(target.run_id, "govdash.risk")


def test_writeback_is_off_by_default(mlflow_server, world, default_policy):
    source = source_create(name="nowb", url=mlflow_server.url)
    sync_execute(sync_run=sync_request(source=source))
    target = Run.objects.get(source=source, run_id=world.runs[2])
    assess_runs(run_ids=[target.pk], version=default_policy)
    ids = list(Assessment.objects.values_list("pk", flat=True))
    assert writeback_assessments(assessment_ids=ids) == {"written": 0, "failed": 0}
    assert "govdash.compliance" not in world.client.get_run(target.run_id).data.tags


def test_writeback_is_refused_for_gitlab_sources():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="vanilla MLflow"):
        source_create(
            name="gl",
            url="https://gitlab.example/api/v4/projects/1/ml/mlflow",
            kind="gitlab",
            writeback_enabled=True,
        )

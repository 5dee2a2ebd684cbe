"""Against a real ``mlflow server``: a tag changed in MLflow and synced invalidates
an open request; an alias moved to the version govdash approved raises no
alert, any other move does."""

from __future__ import annotations

import time
import uuid

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from approvals.audit_actions import ApprovalsAction
from approvals.services import promotion_delivered, promotion_request, promotion_vote
from audit.models import AuditEvent
from reports.services import assess_runs
from tests.approvals.conftest import GOOD_TAGS, ensure_default_environments
from tracking.models import AliasChange, ModelVersion, Run
from tracking.services import source_create, sync_execute, sync_request

pytestmark = [pytest.mark.django_db, pytest.mark.redis]


@pytest.fixture
def mlflow_model(mlflow_server):  # type: ignore[no-untyped-def]
    """A fresh model with two versions of one compliant run (names unique per test)."""
    client = MlflowClient(tracking_uri=mlflow_server.url)
    suffix = uuid.uuid4().hex[:8]
    experiment_id = client.create_experiment(
        f"approvals-{suffix}",
        artifact_location="s3://bucket/approvals",
        tags={"department": "risk"},
    )
    now = int(time.time() * 1000)
    run = client.create_run(experiment_id, start_time=now - 60_000, tags={"mlflow.user": "ana"})
    client.log_batch(
        run.info.run_id,
        metrics=[Metric("accuracy", 0.9, now, 0)],
        params=[Param("lr", "0.1")],
        tags=[RunTag("classification", "official")],
    )
    client.set_terminated(run.info.run_id, end_time=now - 1000)
    name = f"approvals-scorer-{suffix}"
    client.create_registered_model(name)
    for _ in range(2):
        client.create_model_version(
            name,
            source=f"runs:/{run.info.run_id}/model",
            run_id=run.info.run_id,
            tags=GOOD_TAGS,
            await_creation_for=0,
        )
    return client, name


@pytest.fixture
def synced(
    mlflow_server,
    mlflow_model,
    default_policy,
    make_user,
    redis_queue,
    django_capture_on_commit_callbacks,
):  # type: ignore[no-untyped-def]
    redis_queue("assess")
    redis_queue("default")
    ensure_default_environments()
    client, name = mlflow_model
    source = source_create(name="local", url=mlflow_server.url, watched_aliases=["staging"])

    def sync() -> None:
        with django_capture_on_commit_callbacks(execute=True):
            done = sync_execute(sync_run=sync_request(source=source, full=True))
        assert done.status == "succeeded", done.error

    sync()
    run = Run.objects.get(
        source=source, run_id=ModelVersion.objects.filter(model__name=name).first().mlflow_run_id
    )
    assess_runs(run_ids=[run.pk], version=default_policy)
    assert run.assessments.get().verdict == "compliant"
    people = {
        "engineer": make_user("eng", "ml-engineer"),
        "reviewer": make_user("reviewer1", "reviewer"),
    }
    return client, name, source, sync, people


def _ask(source, name, people, version="1"):  # type: ignore[no-untyped-def]
    return promotion_request(
        actor=people["engineer"],
        source=source.name,
        model=name,
        version=version,
        environment="staging",
        justification="ship it",
    )


def test_a_tag_changed_in_mlflow_and_synced_invalidates_the_open_request(synced):
    client, name, source, sync, people = synced
    request = _ask(source, name, people)
    sync()  # nothing changed
    request.refresh_from_db()
    assert request.status == "open"
    client.set_model_version_tag(name, "1", "security_scan", "failed")
    sync()
    request.refresh_from_db()
    assert request.status == "invalidated"
    assert "version tag 'security_scan' changed from 'passed' to 'failed'" in request.closed_reason
    event = AuditEvent.objects.get(action=ApprovalsAction.INVALIDATE)
    assert event.actor_username == "sync"
    assert event.data["changes"] == [
        "version tag 'security_scan' changed from 'passed' to 'failed'"
    ]


def test_govdash_s_own_writes_in_mlflow_do_not_invalidate(synced):
    client, name, source, sync, people = synced
    request = _ask(source, name, people)
    client.set_model_version_tag(name, "1", "compliance_validated", "true")
    client.set_model_version_tag(name, "1", "govdash.promotion_request", str(request.pk))
    client.set_registered_model_alias(name, "staging", "1")
    sync()
    request.refresh_from_db()
    assert request.status == "open"


def test_an_alias_moved_to_the_approved_version_raises_no_alert_any_other_move_does(synced):
    client, name, source, sync, people = synced
    request = _ask(source, name, people)
    promotion_vote(actor=people["reviewer"], request_id=request.pk, decision="approve", comment="")
    # What the delivery job does, then reports.
    client.set_registered_model_alias(name, "staging", "1")
    promotion_delivered(request_id=request.pk, succeeded=True, detail="alias set")
    sync()
    moved = AliasChange.objects.get(model__name=name, alias="staging")
    assert (moved.to_version, moved.unapproved) == ("1", False)

    client.set_registered_model_alias(name, "staging", "2")  # behind govdash's back
    sync()
    behind = AliasChange.objects.filter(model__name=name, alias="staging").first()
    assert (behind.to_version, behind.unapproved) == ("2", True)
    assert list(AliasChange.objects.open_alerts()) == [behind]

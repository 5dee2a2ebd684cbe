"""A request the job queue cannot take is not reported as "nothing changed":
it is recorded, shown and audited as not queued, and queued again later."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from reports.jobs import AssessmentNotQueued, assess_pending, queue_unqueued_batches
from reports.models import Assessment, AssessmentBatch, AssessmentRequest, PolicyVersion
from reports.selectors.assessing import open_requests, request_progress
from reports.services import policy_export_yaml
from tests import factories

pytestmark = pytest.mark.django_db

DOWN = "redis://127.0.0.1:1/0"  # nothing listens there


def _enqueue_events(outcome: str) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(action="reports.assess_enqueue", outcome=outcome).order_by(
            "sequence"
        )
    )


@pytest.mark.redis
def test_a_request_the_queue_cannot_take_is_audited_as_failed_and_queued_again_later(
    settings, default_policy, redis_queue
):  # type: ignore[no-untyped-def]
    up = settings.REDIS_URL
    runs = {factories.run().pk, factories.run().pk}
    settings.REDIS_URL = DOWN
    with pytest.raises(AssessmentNotQueued, match="job queue cannot be reached") as excinfo:
        assess_pending(reason="test")

    request = AssessmentRequest.objects.get()
    assert (excinfo.value.request, excinfo.value.runs) == (request, 2)
    batch = request.batches.get()
    assert batch.status == AssessmentBatch.Status.UNQUEUED
    assert set(batch.run_ids) == runs
    assert "job queue cannot be reached" in batch.error
    # The trail: the request was recorded, then the queue refused it.
    (failure,) = _enqueue_events("failure")
    assert (failure.target_type, failure.target_id) == (
        "reports.assessmentrequest",
        str(request.pk),
    )
    assert failure.actor_username == "system"
    assert failure.data["runs"] == 2
    assert "job queue cannot be reached" in failure.data["error"]
    assert not _enqueue_events("success")
    # It shows, and it still holds its runs: they are not requested twice.
    (progress,) = request_progress([request])
    assert (progress.unqueued_batches, progress.is_open) == (1, True)
    assert "job queue cannot be reached" in progress.queue_error
    assert open_requests() == [request]
    assert assess_pending(reason="again") == []
    assert not Assessment.objects.exists()

    # The queue is back: the maintenance tick's retry puts the same batch on it.
    settings.REDIS_URL = up
    queue = redis_queue("assess")
    assert queue_unqueued_batches() == 1
    batch.refresh_from_db()
    assert (batch.status, batch.error) == (AssessmentBatch.Status.QUEUED, "")
    assert [job.args[0] for job in queue.get_jobs()] == [batch.pk]
    assert batch.job_id == queue.get_jobs()[0].id
    (success,) = _enqueue_events("success")
    assert success.data["retry"] is True
    assert queue_unqueued_batches() == 0  # queued once


def test_the_assess_command_says_the_request_was_not_queued(settings, default_policy):  # type: ignore[no-untyped-def]
    settings.REDIS_URL = DOWN
    factories.run()
    with pytest.raises(CommandError) as excinfo:
        call_command("assess")
    message = str(excinfo.value)
    request = AssessmentRequest.objects.get()
    assert message.startswith(f"Assessment of 1 run was requested (request #{request.pk})")
    assert "could not be queued: the job queue cannot be reached" in message
    assert "queued again automatically" in message
    (failure,) = _enqueue_events("failure")
    assert failure.actor_username == "command"
    # Run again while the queue is still down: the retry fails and says so too;
    # nothing new is requested.
    with pytest.raises(CommandError, match="job queue cannot be reached"):
        call_command("assess")
    assert AssessmentRequest.objects.count() == 1
    assert len(_enqueue_events("failure")) == 2
    assert request.batches.get().status == AssessmentBatch.Status.UNQUEUED


@pytest.fixture
def officer(client: Client, make_user) -> Client:  # type: ignore[no-untyped-def]
    client.force_login(make_user("olivia", "compliance-officer"))
    return client


def test_assess_now_with_the_queue_down_says_what_happened(
    officer: Client, default_policy, settings
):  # type: ignore[no-untyped-def]
    settings.REDIS_URL = DOWN
    factories.run()
    response = officer.post(reverse("reports:assess"), {"policy": "default"}, follow=True)
    html = response.content.decode()
    request = AssessmentRequest.objects.get()
    assert f"Assessment of 1 run was requested (request #{request.pk}) but could not be " in html
    assert "queued: the job queue cannot be reached" in html
    assert "Nothing was changed" not in html
    assert "usa-alert--error" in html
    assert 'data-unqueued="1"' in html  # the activity panel shows it as not queued
    (failure,) = _enqueue_events("failure")
    assert failure.actor_username == "olivia"
    assert not Assessment.objects.exists()


def test_publish_with_the_queue_down_audits_the_reassessment_as_not_queued(
    officer: Client, default_policy, settings
):  # type: ignore[no-untyped-def]
    factories.run()
    text = policy_export_yaml(default_policy).replace("days: 1095", "days: 30")
    officer.post(reverse("reports:policy-edit", args=["default"]), {"text": text})
    settings.REDIS_URL = DOWN
    response = officer.post(reverse("reports:policy-publish", args=["default", 2]), follow=True)
    assert PolicyVersion.objects.get(policy__slug="default", number=2).is_published
    html = response.content.decode()
    assert "Re-assessment of 1 run is recorded as not queued" in html
    (failure,) = _enqueue_events("failure")
    assert failure.actor_username == "olivia"
    assert failure.data["version"] == 2

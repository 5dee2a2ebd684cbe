"""“Assess now” on the dashboard, and the live progress it shows."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from reports.jobs import assess_batch_job
from reports.models import Assessment, AssessmentBatch, AssessmentRequest
from reports.selectors.assessing import assessment_activity, request_progress
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def officer(client: Client, make_user) -> Client:  # type: ignore[no-untyped-def]
    client.force_login(make_user("olivia", "compliance-officer"))
    return client


def test_assess_now_button_is_shown_to_officers_only(client: Client, make_user, default_policy):  # type: ignore[no-untyped-def]
    client.force_login(make_user("rita", "reviewer"))
    assert "Assess now" not in client.get(reverse("reports:dashboard")).content.decode()
    client.force_login(make_user("olivia", "compliance-officer"))
    assert "Assess now" in client.get(reverse("reports:dashboard")).content.decode()


@pytest.mark.redis
def test_assess_now_queues_the_unassessed_runs_of_the_scope(
    officer: Client, default_policy, redis_queue
):  # type: ignore[no-untyped-def]
    queue = redis_queue("assess")
    alpha = factories.experiment(factories.source("alpha"))
    beta = factories.experiment(factories.source("beta"))
    wanted = [factories.run(alpha) for _ in range(2)]
    factories.run(beta)
    response = officer.post(reverse("reports:assess"), {"policy": "default", "source": "alpha"})
    assert response.status_code == 302
    assert response["Location"] == reverse("reports:dashboard") + "?policy=default&source=alpha"
    request = AssessmentRequest.objects.get()
    assert request.requested_by.username == "olivia"
    batch_runs = {pk for b in request.batches.all() for pk in b.run_ids}
    assert batch_runs == {run.pk for run in wanted}
    assert queue.count == request.batches.count()


def test_assess_now_with_the_queue_down_says_so(officer: Client, default_policy, settings):  # type: ignore[no-untyped-def]
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    factories.run()
    response = officer.post(reverse("reports:assess"), {"policy": "default"}, follow=True)
    html = response.content.decode()
    assert "Assessment of 1 run was requested" in html
    assert "could not be queued: the job queue cannot be reached" in html
    assert not Assessment.objects.exists()


@pytest.mark.redis
def test_assess_now_with_nothing_to_do(officer: Client, default_policy, redis_queue):  # type: ignore[no-untyped-def]
    redis_queue("assess")
    response = officer.post(reverse("reports:assess"), {"policy": "default"}, follow=True)
    assert "Nothing to assess" in response.content.decode()


@pytest.mark.redis
def test_progress_polls_while_batches_are_open_and_stops_when_done(
    officer: Client, default_policy, redis_queue, monkeypatch
):  # type: ignore[no-untyped-def]
    redis_queue("assess")
    monkeypatch.setattr("reports.services.BATCH_SIZE", 2)
    for _ in range(3):
        factories.run()
    officer.post(reverse("reports:assess"), {"policy": "default"})
    partial = officer.get(reverse("reports:assess-progress"))
    html = partial.content.decode()
    assert 'hx-trigger="every 2s"' in html
    assert 'hx-get="/compliance/assess/progress"' in html
    assert "0 of 3 runs assessed (0%)" in html

    batches = list(AssessmentBatch.objects.order_by("pk"))
    assess_batch_job(batches[0].pk)  # the job itself, in this process
    html = officer.get(reverse("reports:assess-progress")).content.decode()
    (progress,) = request_progress([AssessmentRequest.objects.get()])
    done = progress.done
    assert f"{done} of 3 runs assessed" in html
    assert 'hx-trigger="every 2s"' in html

    for batch in batches[1:]:
        assess_batch_job(batch.pk)
    html = officer.get(reverse("reports:assess-progress")).content.decode()
    assert "3 of 3 runs assessed (100%)" in html
    assert "hx-trigger" not in html
    assert 'data-polling="false"' in html
    # The dashboard embeds the same partial.
    assert (
        "3 of 3 runs assessed (100%)" in officer.get(reverse("reports:dashboard")).content.decode()
    )


def test_activity_agrees_with_request_progress(default_policy, monkeypatch):  # type: ignore[no-untyped-def]
    from reports.services import assessment_request_create
    from tracking.models import Run

    monkeypatch.setattr("reports.services.BATCH_SIZE", 2)
    for _ in range(5):
        factories.run()
    request = assessment_request_create(
        version=default_policy, runs=Run.objects.all(), reason="test"
    )
    first = request.batches.order_by("pk").first()
    assess_batch_job(first.pk)
    AssessmentBatch.objects.filter(pk=request.batches.order_by("pk").last().pk).update(
        status=AssessmentBatch.Status.FAILED
    )
    assert request.batches.count() == 3
    (item,) = assessment_activity()
    assert request_progress([request]) == [item]
    assert (item.total, item.done, item.failed_batches, item.open_batches) == (5, 2, 1, 1)

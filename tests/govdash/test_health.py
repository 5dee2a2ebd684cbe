from __future__ import annotations

import pytest
from django.test import Client, RequestFactory

from govdash import errors

pytestmark = pytest.mark.django_db


@pytest.mark.redis
def test_healthz_reports_database_redis_and_queue_depths(client: Client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True}
    assert body["redis"]["ok"] is True
    assert set(body["queues"]) == {"default", "sync", "assess", "reports"}
    assert all(isinstance(depth, int) for depth in body["queues"].values())


def test_healthz_answers_503_when_redis_is_down(client: Client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["redis"]["ok"] is False
    assert "Connection" in body["redis"]["error"]


def test_healthz_is_ok_without_redis_when_jobs_run_inline(client: Client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.JOBS_INLINE = True
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["redis"]["inline"] is True


def test_server_error_page_shows_the_request_id_and_nothing_else():
    request = RequestFactory().get("/")
    request.request_id = "abc123def456"
    response = errors.server_error(request)
    assert response.status_code == 500
    assert b"abc123def456" in response.content
    assert b"Traceback" not in response.content


def test_responses_carry_a_request_id(client: Client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="ci-run-000123")
    assert response.headers["X-Request-ID"] == "ci-run-000123"
    assert len(client.get("/healthz", HTTP_X_REQUEST_ID="bad id!").headers["X-Request-ID"]) == 32


@pytest.mark.redis
def test_healthz_reports_overdue_work_and_a_scheduler_that_stopped_ticking(client: Client):
    import datetime as dt

    from django.utils import timezone

    from kernel.queues import redis_connection
    from kernel.reconcile import LAST_TICK_KEY, maintenance_tick
    from tests import factories
    from tracking.models import SyncRun

    connection = redis_connection()
    connection.delete(LAST_TICK_KEY)
    body = client.get("/healthz").json()
    assert body["scheduler"] == {"last_tick": None, "ok": False}
    assert body["overdue"] == {
        "syncs": 0,
        "assessment batches": 0,
        "report renders": 0,
        "dashboard rollups": 0,
        "promotions": 0,
    }

    long_ago = timezone.now() - dt.timedelta(hours=1)
    SyncRun.objects.create(
        source=factories.source(), status="running", started_at=long_ago, heartbeat_at=long_ago
    )
    body = client.get("/healthz").json()
    assert body["overdue"]["syncs"] == 1

    maintenance_tick()  # fails the lost sync; the tick is noted
    body = client.get("/healthz").json()
    assert body["scheduler"]["ok"] is True
    assert body["overdue"]["syncs"] == 0
    connection.delete(LAST_TICK_KEY)


def test_healthz_counts_queued_batches_older_than_the_assess_stale_threshold_as_overdue(
    client: Client, default_policy, settings
):
    import datetime as dt

    from django.utils import timezone

    from reports.models import AssessmentBatch
    from reports.services import assessment_request_create
    from tests import factories

    def overdue_batches() -> int:
        return client.get("/healthz").json()["overdue"]["assessment batches"]

    request = assessment_request_create(
        version=default_policy, runs=[factories.run().pk], reason="test"
    )
    batch = request.batches.get()
    AssessmentBatch.objects.filter(pk=batch.pk).update(heartbeat_at=timezone.now())
    assert overdue_batches() == 0  # just put on the queue

    stale = dt.timedelta(seconds=settings.ASSESS_STALE_SECONDS + 5)
    AssessmentBatch.objects.filter(pk=batch.pk).update(heartbeat_at=timezone.now() - stale)
    assert overdue_batches() == 1  # queued past the threshold, no worker took it

    # Never handed to the queue: judged by when it was requested.
    AssessmentBatch.objects.filter(pk=batch.pk).update(heartbeat_at=None)
    assert overdue_batches() == 0
    type(request).objects.filter(pk=request.pk).update(created_at=timezone.now() - stale)
    assert overdue_batches() == 1
